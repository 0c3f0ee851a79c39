// One fresh process of the allocation-profile overhead bench: the same workload with the
// option on or off. argv: on|off, alloc|gc, dir. Prints one JSON line.
// - alloc: an allocation-heavy loop (short-lived and kept objects, strings, arrays); wall ms.
// - gc: a GC-heavy host whose event loop keeps turning; the loop delay p99 in ms.
import { createRequire } from 'node:module'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../index.js')
const [mode, workload, dir] = process.argv.slice(2)
const rss0 = process.memoryUsage().rss
const dumper = new MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0, ...(mode === 'on' && { allocationProfile: true }) })
// What constructing the dumper cost, before any workload: the inspector session when on.
const startedRss = process.memoryUsage().rss - rss0
const kept = []
function work(n) {
  let sink = 0
  for (let i = 0; i < n; i++) {
    const o = { id: i, name: `item-${i}`, tags: [i, i + 1, i + 2] }
    if (i % 50 === 0) kept.push(o)
    sink += o.tags.length + o.name.length
  }
  if (kept.length > 200_000) kept.length = 0
  return sink
}
let result
if (workload === 'alloc') {
  const t0 = performance.now()
  work(3_000_000)
  result = { wallMs: performance.now() - t0 }
} else {
  const h = monitorEventLoopDelay({ resolution: 1 })
  h.enable()
  const end = Date.now() + 1500
  await new Promise((resolve) => {
    const tick = () => {
      work(20_000)
      if (Date.now() < end) setImmediate(tick)
      else resolve()
    }
    tick()
  })
  h.disable()
  result = { p99Ms: h.percentile(99) / 1e6 }
}
const rss1 = process.memoryUsage().rss
const r = await dumper.dump('manual')
dumper.close()
console.log(
  JSON.stringify({ mode, workload, ...result, rssGrowthBytes: rss1 - rss0, startedRss, rss: rss1, fetchMillis: r.allocationProfile?.fetchMillis ?? null }),
)
