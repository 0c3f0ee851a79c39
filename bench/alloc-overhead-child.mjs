// One fresh process of the feature-overhead bench: the same workload with a feature on or
// off. argv: mode, workload, dir. Prints one JSON line. Modes:
// - off: a plain dumper; on: `allocationProfile: true`;
// - watchdog: a watchdog that never fires; stack: the same with `captureStack: true`.
// Workloads:
// - alloc: an allocation-heavy loop (short-lived and kept objects, strings, arrays); wall ms.
// - gc: a GC-heavy host whose event loop keeps turning; the loop delay p99 in ms.
// - stall (stack only): the loop blocked past the watchdog; the capture's time and status.
import { createRequire } from 'node:module'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../index.js')
const [mode, workload, dir] = process.argv.slice(2)
const rss0 = process.memoryUsage().rss
const watchdog = { rssBytes: workload === 'stall' ? 1 : Number.MAX_SAFE_INTEGER, stallMs: 200, captureStack: mode === 'stack' }
const dumper = new MemoryDiagnosticsDumper({
  directory: dir,
  cooldownMs: 0,
  ...(mode === 'on' && { allocationProfile: true }),
  ...((mode === 'watchdog' || mode === 'stack') && { watchdog }),
})
// What constructing the dumper cost, before any workload: the inspector session, or the
// stack helper thread (started asynchronously: every mode waits alike for it).
await new Promise((resolve) => setTimeout(resolve, 300))
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
if (workload === 'stall') {
  const end = Date.now() + 1500
  while (Date.now() < end) {}
  await new Promise((resolve) => setTimeout(resolve, 100))
  const { readdirSync, readFileSync } = await import('node:fs')
  const f = readdirSync(dir).find((n) => n.startsWith('memory-') && n.endsWith('.json'))
  const stack = f ? JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')).watchdog?.stack : null
  result = { captureMillis: stack?.captureMillis ?? null, captured: stack?.status === 'captured' }
} else if (workload === 'alloc') {
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
