// Grows native memory with the flight recorder on until something kills it. Its monitor
// observes every step and dumps at half and three quarters of argv[4] bytes.
import { createRequire } from 'node:module'
import v8 from 'node:v8'
const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const [dir, intervalMs, limit] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])]
const dumper = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'grow', cooldownMs: 0, recorder: { intervalMs, samples: 50 } })
const held = []
const fired = new Set()
function step() {
  held.push(Buffer.alloc(2 << 20, 7))
  dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
  const rss = process.memoryUsage().rss
  for (const [level, at] of [['hard', 0.5], ['critical', 0.75]]) {
    if (rss >= at * limit && !fired.has(level)) {
      fired.add(level)
      dumper.dump(level, { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
    }
  }
  setTimeout(step, 10)
}
step()
