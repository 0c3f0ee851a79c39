import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { implementations, readDump, root, runNode, scratch, straceUnavailable } from './helpers.js'

const noStrace = straceUnavailable()
if (noStrace) console.log(`skipped the no-fork tests: ${noStrace}`)

/** Runs a child under strace and returns its process-creating calls. */
function traceProcessCreation(script: string, env: NodeJS.ProcessEnv = {}) {
  const dir = join(scratch(), 'diag')
  const log = join(scratch(), 'strace.log')
  const r = runNode(join(root, '__test__/children', script), [dir], {
    env,
    prefix: ['strace', '-f', '-qq', '-o', log, '-e', 'trace=execve,execveat,fork,vfork,clone,clone3'],
  })
  expect(r.status, r.stderr).toBe(0)
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!)
  const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean)
  const execs = lines.filter((l) => /\bexecve(at)?\(/.test(l) && !/resumed>/.test(l))
  // A clone without CLONE_THREAD creates a process; threads are fine.
  const forks = lines.filter((l) => (/\b(fork|vfork)\(/.test(l) || (/\bclone3?\(/.test(l) && !/CLONE_THREAD/.test(l))) && !/resumed>/.test(l))
  return { result, execs, forks, lines }
}

describe.skipIf(noStrace !== null)('no fork, no exec', () => {
  it.each(implementations)('a complete $name dump (both phases) creates no process and executes no program', ({ name, env }) => {
    const { result, execs, forks, lines } = traceProcessCreation('dump-once.mjs', env)
    expect(readDump(result.filePath).runtime.implementation).toBe(name)
    expect(result.complete).toBe(true)
    expect(readDump(result.filePath).collectionComplete).toBe(true)
    // The only exec is strace starting node itself.
    expect(execs).toHaveLength(1)
    expect(execs[0]).toContain(process.execPath)
    expect(forks).toEqual([])
    // Threads were seen, so the trace did observe clone calls.
    expect(lines.some((l) => /CLONE_THREAD/.test(l))).toBe(true)
  })

  it('the same check catches a child process (negative control)', () => {
    const { result, execs, forks } = traceProcessCreation('spawn-control.mjs')
    expect(result.complete).toBe(true)
    expect(execs.length).toBeGreaterThan(1)
    expect(forks.length).toBeGreaterThan(0)
  })
})
