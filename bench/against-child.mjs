// One fresh process of the before/after comparison (`npm run bench -- --against DIR`):
// the same measurements of the package at ROOT, whichever build that is. argv: ROOT,
// directory. Prints one JSON line: require() (ms, RSS), construction (ms), the first dump after construction
// and the median of the next 40 (input omitted), observe() (ns per call), and phase 1
// with the figures passed (median and p99 over 200 dumps, µs).
import { createRequire } from 'node:module'
import path from 'node:path'
import v8 from 'node:v8'

const [root, dir] = process.argv.slice(2)
const require = createRequire(path.join(root, 'index.js'))
const rss0 = process.memoryUsage().rss
const t0 = process.hrtime.bigint()
const { MemoryDiagnosticsDumper } = require(path.join(root, 'index.js'))
const t1 = process.hrtime.bigint()
const rss1 = process.memoryUsage().rss
const t2 = process.hrtime.bigint()
const d = new MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0, maxDumpsPerSession: 1_000_000, maxFiles: 1000, recorder: { intervalMs: 1000 } })
const t3 = process.hrtime.bigint()
await new Promise((resolve) => setTimeout(resolve, 50))
const us = (a) => Number(process.hrtime.bigint() - a) / 1000
const sorted = (xs) => [...xs].sort((a, b) => a - b)
const calls = []
for (let i = 0; i < 41; i++) {
  const a = process.hrtime.bigint()
  const p = d.dump('hard')
  calls.push(us(a))
  await p
}
// observe(): batches of 100,000 calls with the host's own figure objects, the median batch.
const h = v8.getHeapStatistics()
const m = process.memoryUsage()
const batches = []
for (let b = 0; b < 11; b++) {
  const a = process.hrtime.bigint()
  for (let i = 0; i < 100_000; i++) d.observe(h, m)
  batches.push(Number(process.hrtime.bigint() - a) / 100_000)
}
// Phase 1 with the figures passed, as a host that has them calls it.
const phase1 = []
for (let i = 0; i < 200; i++) {
  const input = { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage(), heapSpaces: v8.getHeapSpaceStatistics() }
  const a = process.hrtime.bigint()
  const p = d.dump('hard', input)
  phase1.push(us(a))
  await p
}
d.close()
const rest = sorted(calls.slice(1))
const p1 = sorted(phase1)
console.log(
  JSON.stringify({
    requireMs: Number(t1 - t0) / 1e6,
    requireRssBytes: rss1 - rss0,
    constructMs: Number(t3 - t2) / 1e6,
    firstUs: calls[0],
    medianUs: rest[rest.length >> 1],
    observeNs: sorted(batches)[batches.length >> 1],
    phase1Us: p1[p1.length >> 1],
    phase1P99Us: p1[Math.floor(p1.length * 0.99)],
  }),
)
