// Grows native memory (Buffers, touched) inside a memory cgroup until the kernel's OOM
// killer ends it. Its monitor dumps at half and three quarters of the cgroup limit
// (argv[3] bytes) and reports each dump once phase 1 is on disk.
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const limit = Number(process.argv[3])
const dumper = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: 'koom', cooldownMs: 0 })
const held = []
const fired = new Set()
function step() {
  held.push(Buffer.alloc(4 << 20, 7))
  const rss = process.memoryUsage().rss
  for (const [level, at] of [
    ['hard', 0.5],
    ['critical', 0.75],
  ]) {
    if (rss >= at * limit && !fired.has(level)) {
      fired.add(level)
      dumper.dump(level, { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
      process.stdout.write(`dumped ${level}\n`)
    }
  }
  setTimeout(step, fired.size === 2 ? 1 : 5)
}
step()
