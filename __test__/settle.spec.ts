import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { dumpFiles, readDump, root, runNode, scratch } from './helpers.js'

const MiB = 2 ** 20

// One threadsafe function per dumper settles every dump's promise: unreferenced when idle,
// referenced while phase 2 is in flight, released by close() or when the dumper is collected.
describe('settling dump promises', () => {
  it('workers that end with phases in flight, or never call close(), neither crash nor leak', () => {
    const dir = join(scratch(), 'diag')
    const rounds = 20
    const r = runNode(join(root, '__test__/children/worker-teardown.mjs'), [dir, String(rounds)])
    expect(r.status, r.stderr).toBe(0)
    expect(r.signal).toBeNull()
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
    // Every worker ended, by each route; the 'natural' ones only because nothing kept them alive.
    expect(out.ends).toHaveLength(rounds * 3)
    for (const mode of ['terminate', 'exit', 'natural']) {
      expect(out.ends.filter((e: any) => e.mode === mode)).toHaveLength(rounds)
    }
    expect(out.ends.filter((e: any) => e.mode === 'natural').every((e: any) => e.exitCode === 0)).toBe(true)
    // Phase 1 of every dump was on disk before dump() returned; nothing is torn.
    expect(out.files).toBe((rounds + 3) * 3 * 5)
    expect(out.unreadable).toBe(0)
    // No descriptor, thread or isolate left behind by 60 workers.
    expect(out.after.threads).toBe(out.before.threads)
    expect(out.after.fds).toBeLessThanOrEqual(out.before.fds + 2)
    expect(out.after.rss - out.before.rss).toBeLessThan(96 * MiB)
  })

  it('a process that never calls close() and never awaits its dump ends by itself, after phase 2', () => {
    const dir = join(scratch(), 'diag')
    const code = `
      const v8 = require('node:v8')
      const { MemoryDiagnosticsDumper } = require(${JSON.stringify(join(root, 'index.js'))})
      const d = new MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)} })
      void d.dump('hard', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })`
    const r = runNode('-e', [code])
    expect(r.status, r.stderr).toBe(0)
    expect(r.signal).toBeNull()
    const files = dumpFiles(dir)
    expect(files).toHaveLength(1)
    expect(readDump(files[0]).collectionComplete).toBe(true)
  })

  it('an idle dumper does not keep the process alive, before or after its dumps', () => {
    const dir = join(scratch(), 'diag')
    const code = `
      const v8 = require('node:v8')
      const { MemoryDiagnosticsDumper } = require(${JSON.stringify(join(root, 'index.js'))})
      globalThis.kept = new MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)}, cooldownMs: 0, maxDumpsPerSession: 10 })
      globalThis.idle = new MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)} })
      ;(async () => {
        for (let i = 0; i < 3; i++) await kept.dump('hard', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
        kept.close()
        const after = await kept.dump('manual', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
        console.log(JSON.stringify(after))
      })()`
    const r = runNode('-e', [code])
    expect(r.status, r.stderr).toBe(0)
    // A dump after close() settles at once (skipped as closed), and the process still ends.
    expect(JSON.parse(r.stdout.trim())).toEqual({ trigger: 'manual', complete: false, written: false, skipped: 'closed', retryAfterMs: null })
    expect(dumpFiles(dir)).toHaveLength(3)
  })
})
