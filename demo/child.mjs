// The demo's victim: a small memory-pressure monitor, as an AI coding CLI runs one, in a
// process that keeps retaining memory until V8 kills it with a heap out-of-memory error.
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../index.js')
const directory = process.argv[2]

// heap_size_limit includes the young generation: with --max-old-space-size=128 it is
// about 176 MiB, and V8 gives up with used/limit near 0.7. Thresholds above ~0.65 would
// never fire, so hard is 45% and critical 58% of the limit.
const HARD = 0.45
const CRITICAL = 0.58

const dumper = new MemoryDiagnosticsDumper({
  directory,
  sessionId: 'demo-session',
  maxDumpsPerSession: 3,
  cooldownMs: 200,
  appVersion: 'memory-diagnostics-dumper demo',
  // The flight recorder keeps the trajectory on disk, one line every 100 ms.
  recorder: { intervalMs: 100, samples: 60 },
})

const retained = []
let fired = { hard: false, critical: false }
let pauseUntil = 0

function level(ratio) {
  return ratio >= CRITICAL ? 'critical' : ratio >= HARD ? 'hard' : null
}

const monitor = setInterval(() => {
  const heapStatistics = v8.getHeapStatistics()
  dumper.observe(heapStatistics, process.memoryUsage())
  const ratio = heapStatistics.used_heap_size / heapStatistics.heap_size_limit
  const lvl = level(ratio)
  if (!lvl || fired[lvl]) return
  const started = performance.now()
  const pending = dumper.dump(lvl, {
    heapStatistics,
    memoryUsage: process.memoryUsage(),
    heapSpaces: v8.getHeapSpaceStatistics(),
    session: { retainedChunks: retained.length, level: lvl },
  })
  const micros = Math.round((performance.now() - started) * 1000)
  fired[lvl] = true
  console.log(`[child] ${lvl} pressure at ${(ratio * 100).toFixed(0)}% of the heap limit: phase-1 dump on disk after ${micros} µs`)
  // Give phase 2 a moment before the allocation resumes at full speed.
  pauseUntil = Date.now() + 150
  pending.then((r) => {
    if (r) console.log(`[child]   phase 2 ${r.complete ? 'complete' : `failed: ${r.error}`} for dump ${r.dumpNumber}`)
  })
}, 25)
monitor.unref()

function allocate() {
  if (Date.now() >= pauseUntil) {
    const chunk = []
    for (let i = 0; i < 4000; i++) chunk.push({ id: i, text: `conversation entry ${i} `.repeat(2) })
    retained.push(chunk)
  }
  setTimeout(allocate, 2)
}
console.log(`[child] pid ${process.pid}, heap limit ${(v8.getHeapStatistics().heap_size_limit / 2 ** 20).toFixed(0)} MiB; retaining memory until V8 gives up`)
allocate()
