// A writer sharing a diagnostics directory with writers in other PID namespaces: dumps
// argv[3] times, with a new dumper (whose construction sweeps the directory) every 5
// dumps, and prints what it saw. Uses index.js (MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS=1: the JS fallback).
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const [dir, count] = [process.argv[2], Number(process.argv[3])]
const out = { pid: process.pid, written: 0, complete: 0, errors: [] }
let dumper
const pending = []
for (let i = 0; i < count; i++) {
  if (i % 5 === 0)
    dumper = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'shared', maxDumpsPerSession: 1_000_000, cooldownMs: 0, maxFiles: 100_000 })
  const p = dumper.dump('hard', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage(), session: { i } })
  pending.push(p)
  // Every other phase 2 overlaps the next dump.
  if (i % 2) await p
}
for (const r of await Promise.all(pending)) {
  if (r.written) out.written++
  if (r.complete) out.complete++
  if (r.error) out.errors.push(r.error)
}
process.stdout.write(JSON.stringify(out) + '\n')
