// Saturates the libuv threadpool (UV_THREADPOOL_SIZE is set by the test) with slow
// pbkdf2 jobs, then dumps: phase 2 must finish while the pool is still busy.
import crypto from 'node:crypto'
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const poolSize = Number(process.env.UV_THREADPOOL_SIZE)
const t0 = performance.now()
const poolDone = []
let started = 0
// Calibrate so each job takes about 1.5 s.
const probe = performance.now()
crypto.pbkdf2Sync('x', 'y', 20_000, 64, 'sha512')
const iterations = Math.ceil((20_000 * 1500) / Math.max(1, performance.now() - probe))
for (let i = 0; i < poolSize; i++) {
  started++
  crypto.pbkdf2('x', 'y', iterations, 64, 'sha512', () => poolDone.push(performance.now() - t0))
}
const dumper = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: 'pool', cooldownMs: 0 })
const result = await dumper.dump('critical', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
const dumpResolvedMs = performance.now() - t0
const poolBusyAtResolve = poolDone.length
await new Promise((r) => setTimeout(r, 10))
while (poolDone.length < started) await new Promise((r) => setTimeout(r, 50))
console.log(JSON.stringify({ result, dumpResolvedMs, poolBusyAtResolve, poolDone, poolSize }))
