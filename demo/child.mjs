// The demo's victim: a small memory-pressure monitor, as an AI coding CLI runs one, in a
// process that keeps retaining memory until V8 kills it with a heap out-of-memory error.
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../index.js')
const directory = process.argv[2]

// V8 gives up when the old space is full. heap_size_limit adds the young generation's
// reservation, which differs between Node versions: with --max-old-space-size=128 it is
// 176 MiB on Node 20 and 22 but 320 MiB on Node 24, where used/limit never passes 0.4.
// So pressure is measured against the old-space limit this process was started with
// (heap_size_limit when none was given): hard at 60%, critical at 80% of it.
const HARD = 0.6
const CRITICAL = 0.8
const oldSpaceFlag = process.execArgv.map((a) => /^--max-old-space-size=(\d+)$/.exec(a)).find(Boolean)
const limitBytes = (heapStatistics) => (oldSpaceFlag ? Number(oldSpaceFlag[1]) * 2 ** 20 : heapStatistics.heap_size_limit)

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
const fired = { hard: false, critical: false }
let pauseUntil = 0

function level(ratio) {
  return ratio >= CRITICAL ? 'critical' : ratio >= HARD ? 'hard' : null
}

const monitor = setInterval(() => {
  const heapStatistics = v8.getHeapStatistics()
  dumper.observe(heapStatistics, process.memoryUsage())
  const ratio = heapStatistics.used_heap_size / limitBytes(heapStatistics)
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
  console.log(`[child] ${lvl} pressure at ${(ratio * 100).toFixed(0)}% of the old-space limit: phase-1 dump on disk after ${micros} µs`)
  // Give phase 2 a moment before the allocation resumes at full speed.
  pauseUntil = Date.now() + 150
  pending.then((r) => {
    if (!r.skipped) console.log(`[child]   phase 2 ${r.complete ? 'complete' : `failed: ${r.error}`} for dump ${r.dumpNumber}`)
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
console.log(`[child] pid ${process.pid}, old-space limit ${(limitBytes(v8.getHeapStatistics()) / 2 ** 20).toFixed(0)} MiB; retaining memory until V8 gives up`)
allocate()
