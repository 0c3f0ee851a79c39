// One fresh process of the start-up bench: require() of the package, construction, then
// (after a turn of the event loop, as a host's first dump comes later) the first dump and
// 40 more. argv: directory. Prints one JSON line.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const rss0 = process.memoryUsage().rss
const t0 = process.hrtime.bigint()
const { MemoryDiagnosticsDumper } = require('../index.js')
const t1 = process.hrtime.bigint()
const rss1 = process.memoryUsage().rss
const d = new MemoryDiagnosticsDumper({ directory: process.argv[2], cooldownMs: 0, maxDumpsPerSession: 100, maxFiles: 100 })
const t2 = process.hrtime.bigint()
await new Promise((resolve) => setTimeout(resolve, 50))
const calls = []
for (let i = 0; i < 41; i++) {
  const a = process.hrtime.bigint()
  const p = d.dump('hard')
  calls.push(Number(process.hrtime.bigint() - a) / 1000)
  await p
}
d.close()
const rest = calls.slice(1).sort((a, b) => a - b)
console.log(
  JSON.stringify({
    requireMs: Number(t1 - t0) / 1e6,
    requireRssBytes: rss1 - rss0,
    constructMs: Number(t2 - t1) / 1e6,
    firstUs: calls[0],
    medianUs: rest[rest.length >> 1],
    p99Us: rest[Math.min(rest.length - 1, Math.floor(rest.length * 0.99))],
  }),
)
