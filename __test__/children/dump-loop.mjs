// Dumps in a loop until killed: the victim of the kill-anywhere harness. Uses index.js,
// so MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS=1 selects the JS fallback.
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const dumper = new MemoryDiagnosticsDumper({
  directory: process.argv[2],
  sessionId: `k${process.pid}`,
  maxDumpsPerSession: 1_000_000,
  cooldownMs: 0,
  maxFiles: 8,
  recorder: { intervalMs: 10, samples: 20 },
})
process.stdout.write('ready\n')
for (let i = 0; ; i++) {
  const p = dumper.dump(i % 2 ? 'hard' : 'critical', {
    heapStatistics: v8.getHeapStatistics(),
    memoryUsage: process.memoryUsage(),
    heapSpaces: v8.getHeapSpaceStatistics(),
    session: { i },
  })
  // Let every other phase 2 overlap the next phase 1.
  if (i % 2) await p
}
