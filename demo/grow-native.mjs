// The kernel-OOM demo's victim: grows native memory (Buffers) inside a memory cgroup with
// the flight recorder on, until the kernel's OOM killer sends SIGKILL. Its monitor
// observes on every step and dumps at half and three quarters of the limit (argv[3]).
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../index.js')
const limit = Number(process.argv[3])
const dumper = new MemoryDiagnosticsDumper({
  directory: process.argv[2],
  sessionId: 'kerneloom',
  cooldownMs: 0,
  recorder: { intervalMs: 100, samples: 60 },
})
const held = []
const fired = new Set()
console.log(`[child] pid ${process.pid} in a ${limit / 2 ** 20} MiB memory cgroup; growing native memory until the kernel kills it`)
function step() {
  held.push(Buffer.alloc(2 << 20, 7))
  dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
  const rss = process.memoryUsage().rss
  for (const [level, at] of [
    ['hard', 0.5],
    ['critical', 0.75],
  ]) {
    if (rss >= at * limit && !fired.has(level)) {
      fired.add(level)
      dumper.dump(level, { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
      console.log(`[child] ${level}: RSS ${(rss / 2 ** 20).toFixed(0)} MiB, phase-1 dump on disk`)
    }
  }
  setTimeout(step, 10)
}
step()
