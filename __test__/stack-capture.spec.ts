// The JS stack of a blocked event loop (`watchdog.captureStack`) with real processes: three
// different blocking functions, each named by inspect's stall line in 10 of 10 runs; a loop
// blocked in native code gives no stack and says why; a host being debugged is not paused
// and its CPU profile keeps running; a dumper in a worker thread says why it has none. After each the host's own inspector session
// still evaluates code and the process exits by itself, with or without close(). The
// watchdog is native-only: the JS fallback validates the option and records its absence
// (the options golden, contract.spec.ts).
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { dumpFiles, pool, readDump, root, scratch } from './helpers.js'

const CHILD = join(root, '__test__/children/stall-stack.mjs')
const CLI = join(root, 'bin/memory-diagnostics-dumper.js')
const childLines = readFileSync(CHILD, 'utf8').split('\n')
/** The lines of a function in the child: from its `function` line to its closing brace. */
function linesOf(fn: string): [number, number] {
  const first = childLines.findIndex((l) => l.trimStart().startsWith(`function ${fn}(`))
  const indent = childLines[first].length - childLines[first].trimStart().length
  const last = childLines.findIndex((l, i) => i > first && l === `${' '.repeat(indent)}}`)
  return [first + 1, last + 1]
}

type Run = { code: number | null; stdout: string; stderr: string; ms: number }
function runChild(dir: string, blocker: string, secret: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const started = Date.now()
    const c = spawn(process.execPath, [CHILD, dir, blocker, secret], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d) => (stdout += d))
    c.stderr.on('data', (d) => (stderr += d))
    c.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }))
  })
}

/** The host came back, evaluated code in its own inspector session and ended by itself. */
function expectCleanHost(r: Run) {
  expect(r.code, r.stderr).toBe(0)
  expect(r.stderr).not.toMatch(/Waiting for the debugger/)
  expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!).hostEval, r.stderr).toBe(42)
}

function watchdogDump(dir: string) {
  const docs = dumpFiles(dir)
    .map(readDump)
    .filter((d) => d.trigger === 'watchdog')
  expect(docs.length).toBe(1)
  return docs[0]
}

function inspectJson(dir: string) {
  return new Promise<any>((resolve, reject) => {
    const c = spawn(process.execPath, [CLI, 'inspect', '--json', dir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`inspect exited ${code}`))))
  })
}

describe('watchdog.captureStack (native)', () => {
  for (const blocker of ['pollUntilReady', 'fibonacci', 'serializeForever']) {
    it(`${blocker}: the stall dump names it in 10 of 10 runs, the host still works and exits by itself, and no value is in any file`, async () => {
      const [first, last] = linesOf(blocker)
      expect(first).toBeGreaterThan(0)
      const runs = await pool(10, 3, async (i) => {
        const dir = join(scratch(), 'd')
        const secret = `SECRET${process.pid}X${i}Q`
        // Half the hosts close their dumper before exiting (the helper thread is ended),
        // half leave it to the exit.
        const r = await runChild(dir, blocker, secret, { STALL_CLOSE: i % 2 ? '1' : '0' })
        expectCleanHost(r)
        const doc = watchdogDump(dir)
        const stack = doc.watchdog.stack
        expect(stack.status, JSON.stringify(stack)).toBe('captured')
        expect(stack.frames.length).toBeGreaterThan(0)
        expect(stack.frames.length).toBeLessThanOrEqual(32)
        expect(stack.captureMillis).toBeLessThan(1000)
        for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8')).not.toContain(secret)
        const stall = (await inspectJson(dir)).processes[0].verdict.stalls[0]
        return { stall, first, last }
      })
      for (const { stall } of runs) {
        expect(stall.stack).toBe('captured')
        expect(stall.blocking.function).toBe(blocker)
        expect(stall.blocking.script).toMatch(/stall-stack\.mjs$/)
        expect(stall.blocking.line).toBeGreaterThanOrEqual(first)
        expect(stall.blocking.line).toBeLessThanOrEqual(last)
      }
    })
  }

  it("scripts' names pass the place rule: a sourceURL keeps no credentials, query or fragment, a data: URL no content", async () => {
    const dir = join(scratch(), 'd')
    const secret = `SECRET${process.pid}NAMES`
    const r = await runChild(dir, 'namedScripts', secret)
    expectCleanHost(r)
    const stack = watchdogDump(dir).watchdog.stack
    expect(stack.status, JSON.stringify(stack)).toBe('captured')
    expect(stack.frames[0].script).toBe('https://cdn.example/app/spin.js')
    expect(stack.frames[1].script).toMatch(/^data:text\/javascript \[\d+ bytes\]$/)
    expect(stack.frames[2].function).toBe('namedScripts')
    for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8')).not.toContain(secret)
  })

  it('a loop blocked in native code runs no JS: "unavailable" with the reason within the budget, and the host is never paused later', async () => {
    const dir = join(scratch(), 'd')
    const r = await runChild(dir, 'native', 'x', { STALL_CLOSE: '1' })
    expectCleanHost(r)
    const stack = watchdogDump(dir).watchdog.stack
    expect(stack.status).toBe('unavailable')
    expect(stack.reason).toMatch(/ran no JavaScript within \d+ ms \(blocked in native code, or in garbage collection\)/)
    expect(stack.frames).toEqual([])
    expect(stack.captureMillis).toBeLessThanOrEqual(1100)
  })

  it('a host being debugged (inspector opened in the blocking tick, its own session with the debugger on and a CPU profile running) is never paused, its profile keeps sampling, and the stack is captured', async () => {
    const dir = join(scratch(), 'd')
    const r = await runChild(dir, 'debugged', 'x')
    expectCleanHost(r)
    const host = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
    expect(host.pausedEvents, r.stderr).toBe(0)
    expect(host.profileSamples).toBeGreaterThan(0)
    const stack = watchdogDump(dir).watchdog.stack
    expect(stack.status, JSON.stringify(stack)).toBe('captured')
    expect(stack.frames[0].function, JSON.stringify(stack.frames)).toBe('pollUntilReady')
  })

  it('a dumper in a worker thread has no stack: the dump and one warning say why', async () => {
    const dir = join(scratch(), 'd')
    const r = await runChild(dir, 'inWorker', 'x')
    expectCleanHost(r)
    const stack = watchdogDump(dir).watchdog.stack
    expect(stack.status).toBe('unavailable')
    expect(stack.reason).toMatch(/main thread/)
    expect(r.stderr.match(/StackCaptureUnavailable/g)?.length).toBe(1)
  })
})
