// Two copies of the package in one process (a CLI and a plugin each depending on it, each
// loaded from its own directory): they must not fight over what the process shares. Each
// copy keeps its `exit` listener after the host's and never after another copy's; before,
// each moved its own in answer to the other's move, forever, and the event loop never
// turned again.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { copyOfPackage, scratch } from './helpers.js'

/** Runs a host that loads `copies`, makes a dumper of each, adds its own exit listener and ends. */
function host(copies: string[], dir: string) {
  const code = `
    const copies = ${JSON.stringify(copies)}
    const dumpers = copies.map((c, i) => new (require(c).MemoryDiagnosticsDumper)({ directory: ${JSON.stringify(dir)} + '/' + i, sessionId: 'copy' + i, recorder: { intervalMs: 50 } }))
    // The host's own exit listener, added after the dumpers: its exit code is the one the
    // exit records must see.
    process.on('exit', () => { process.exitCode = 3 })
    setTimeout(() => { process.on('exit', () => {}) }, 20)
    setTimeout(() => console.log('the loop turned'), 100)`
  return spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 20_000 })
}

function exitRecord(dir: string) {
  const trail = readdirSync(dir).filter((f) => f.startsWith('recorder-'))
  expect(trail).toHaveLength(1)
  return readFileSync(join(dir, trail[0]), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
    .at(-1)
}

describe('two copies of the package in one process', () => {
  it("each keeps its exit listener after the host's: the loop turns, and both exit records see the host's exit code", () => {
    const a = copyOfPackage(scratch('copy-a'))
    const b = copyOfPackage(scratch('copy-b'))
    const dir = scratch('copies')
    const r = host([a, b], dir)
    expect(r.error, r.stderr).toBeUndefined()
    expect(r.stdout).toContain('the loop turned')
    expect(r.status).toBe(3)
    for (const i of [0, 1]) expect(exitRecord(join(dir, String(i)))).toMatchObject({ type: 'exit', code: 3 })
  })

  it('beside an older copy whose listener has no mark, the moves stop after a few and the loop turns', () => {
    const a = copyOfPackage(scratch('copy-new'))
    // An older copy: it moves its listener after any other, without looking whose it is.
    const old = copyOfPackage(scratch('copy-old'), (src) =>
      src
        .replace('if (isOurs(listener)) return', '')
        .replace('listeners.slice(i + 1).every(isOurs)', 'i === listeners.length - 1')
        .replace('exitMoves >= MAX_EXIT_MOVES', 'false'),
    )
    expect(readFileSync(join(old, 'lib', 'dumper', 'public-class.js'), 'utf8')).toContain('i === listeners.length - 1')
    const dir = scratch('copies-old')
    const r = host([a, old], dir)
    expect(r.error, r.stderr).toBeUndefined()
    expect(r.stdout).toContain('the loop turned')
    expect(r.status).toBe(3)
  })
})
