// The event loop never comes back: after one observe(), a single synchronous loop grows
// native memory for up to 20 s. Only the native watchdog can write a dump meanwhile.
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const rss0 = process.memoryUsage().rss
const dumper = new MemoryDiagnosticsDumper({
  directory: process.argv[2],
  sessionId: 'blocked',
  recorder: { intervalMs: 50 },
  watchdog: { rssBytes: rss0 + 100 * 2 ** 20, stallMs: 400 },
})
dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
process.stdout.write('blocking\n')
const held = []
const end = Date.now() + 20_000
while (Date.now() < end) {
  if (held.length < 100) held.push(Buffer.alloc(4 << 20, 1))
  const until = Date.now() + 20
  while (Date.now() < until) {} // busy: no await, no timers, no I/O callbacks
}
