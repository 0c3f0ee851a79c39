// Every way a Node process ends, recorded as it happened (issue 33): the recorder's exit
// record carries the exit code and how the process ended, inspect's verdict tells it, and
// bundle picks such a process as crashed. The host's behaviour never changes: the exit code
// and stderr are Node's own. The recorder is native-only, so these run on native.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root, scratch } from './helpers.js'

const require = createRequire(import.meta.url)
const inspect = require('../lib/cli/inspect/command.js')
const { bundle } = require('../index.js')
const { unzipSync } = require('fflate')
const child = join(root, '__test__/children/death.mjs')
/** The line of parseReply's throw in the child. */
const throwLine =
  readFileSync(child, 'utf8')
    .split('\n')
    .findIndex((l) => l.includes('return reply.body.length')) + 1

function die(how: string, dir = scratch(`death-${how}`)) {
  const r = spawnSync(process.execPath, [child, dir, how], { encoding: 'utf8', timeout: 30_000 })
  const trail = readdirSync(dir).filter((f) => f.startsWith('recorder-'))
  expect(trail, r.stderr).toHaveLength(1)
  const records = readFileSync(join(dir, trail[0]), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
  return { r, dir, last: records.at(-1), verdict: inspect.summarize([dir]).processes[0].verdict }
}

describe('how a process ended', () => {
  it('an uncaught exception: its class and the frame of the host code that threw, never its message; Node still exits 1 with its own report', () => {
    const { r, last, verdict } = die('uncaught')
    expect(r.status).toBe(1)
    expect(r.stderr).toContain("TypeError: Cannot read properties of undefined (reading 'length')")
    expect(last).toMatchObject({ type: 'exit', reason: 'exit', code: 1, how: 'uncaughtException', errorClass: 'TypeError' })
    expect(throwLine).toBeGreaterThan(1)
    expect(last.thrownAt).toMatchObject({ function: 'parseReply', line: throwLine })
    expect(last.thrownAt.script).toMatch(/death\.mjs$/)
    expect(JSON.stringify(last)).not.toContain('Cannot read')
    expect(verdict.outcome).toBe('crashed')
    expect(verdict.cause.text).toBe(`uncaught TypeError in parseReply (death.mjs:${throwLine})`)
  })

  it('an unhandled rejection, told apart from an exception', () => {
    const { r, last, verdict } = die('rejection')
    expect(r.status).toBe(1)
    expect(last).toMatchObject({ code: 1, how: 'unhandledRejection', errorClass: 'RangeError' })
    expect(verdict.cause.text).toMatch(/^unhandled rejection: RangeError in /)
  })

  it('process.exit(3) and process.exitCode = 5: the code, and which of the two', () => {
    const three = die('exit3')
    expect(three.r.status).toBe(3)
    expect(three.last).toMatchObject({ code: 3, how: 'processExit' })
    expect(three.last.errorClass).toBeUndefined()
    expect(three.verdict).toMatchObject({ outcome: 'crashed', cause: { kind: 'exitCode', text: 'exited with code 3 (process.exit)' } })
    const five = die('exitCode5')
    expect(five.r.status).toBe(5)
    expect(five.last).toMatchObject({ code: 5, how: 'loopEnded' })
    expect(five.verdict.cause.text).toBe('exited with code 5 (process.exitCode)')
    // The timeline marks the death at the exit record, with its code.
    const svg = inspect.svg(inspect.summarize([five.dir]))
    expect(svg).toContain('died (exit code 5)')
    expect(svg).toContain('death (exit record)')
  })

  it('the code the process really exits with: one an exit listener of the host sets, process.exit() from beforeExit, -1 as 255', () => {
    const nine = die('exitListenerCode9')
    expect(nine.r.status).toBe(9)
    expect(nine.last).toMatchObject({ code: 9, how: 'loopEnded' })
    expect(nine.verdict.outcome).toBe('crashed')
    const eight = die('beforeExitExit8')
    expect(eight.r.status).toBe(8)
    expect(eight.last).toMatchObject({ code: 8, how: 'processExit' })
    const minus = die('exitMinus1')
    expect(minus.r.status).toBe(process.platform === 'win32' ? -1 : 255)
    expect(minus.last).toMatchObject({ code: minus.r.status, how: 'processExit' })
  })

  it('a clean end, and an error the host handled itself, are clean exits', () => {
    for (const how of ['clean', 'handled']) {
      const { r, last, verdict } = die(how)
      expect(r.status, how).toBe(0)
      expect(last, how).toMatchObject({ code: 0, how: 'loopEnded' })
      expect(last.errorClass, how).toBeUndefined()
      expect(verdict.outcome, how).toBe('clean exit')
    }
  })

  it('a thrown string is named by its type, never its value', () => {
    const { r, last, verdict } = die('string')
    expect(r.status).toBe(1)
    expect(last).toMatchObject({ how: 'uncaughtException', errorClass: 'string' })
    expect(last.thrownAt).toBeUndefined()
    expect(JSON.stringify(last)).not.toContain('CANARY')
    expect(verdict.cause.text).toBe('uncaught string')
  })

  it('an error whose message holds lines that look like frames, thrown from a data: module: no message, no fake frame, no source', () => {
    const { last, dir } = die('secret')
    expect(last).toMatchObject({ how: 'uncaughtException', errorClass: 'TypeError' })
    expect(last.thrownAt.script).toMatch(/^data:text\/javascript \[\d+ bytes\]$/)
    const text = inspect.text(inspect.summarize([dir]))
    for (const s of [JSON.stringify(last), text]) expect(s).not.toMatch(/CANARY|export function/)
  })

  it('an error thrown by vm code keeps its frame; a class whose name is no identifier is named "error", its parts never joined', () => {
    const v = die('vm')
    expect(v.last).toMatchObject({ how: 'uncaughtException', errorClass: 'TypeError', thrownAt: { function: 'vmThrow', script: '/opt/clean.js', line: 1 } })
    expect(v.verdict.cause.text).toBe('uncaught TypeError in vmThrow (clean.js:1)')
    const u = die('urlClass')
    expect(u.r.status).toBe(1)
    expect(u.last.how).toBe('uncaughtException')
    expect(u.last.errorClass).toBeUndefined()
    expect(u.verdict.cause.text).toMatch(/^uncaught error in /)
    const text = inspect.text(inspect.summarize([u.dir]))
    for (const s of [JSON.stringify(u.last), text]) expect(s).not.toMatch(/CANARY/)
  })

  it('bundle picks the process that exited with a non-zero code over a later clean one', async () => {
    const dir = scratch('death-two')
    die('exitCode5', dir)
    // The later process of the same directory ends cleanly.
    spawnSync(process.execPath, [child, dir, 'clean'], { encoding: 'utf8', timeout: 30_000 })
    const summary = inspect.summarize([dir])
    expect(summary.processes.map((p: any) => p.verdict.outcome).sort()).toEqual(['clean exit', 'crashed'])
    const out = join(scratch('death-out'), 'report.zip')
    await bundle(dir, { output: out })
    const manifest = JSON.parse(Buffer.from(unzipSync(readFileSync(out))['manifest.json']).toString('utf8'))
    expect(manifest.selection.rule).toBe('the most recent process that crashed')
    expect(manifest.selection.processes.map((p: any) => [p.outcome, p.cause])).toEqual([['crashed', 'exitCode']])
  })
})
