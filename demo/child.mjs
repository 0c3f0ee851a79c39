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
// (heap_size_limit when none was given): hard at 45%, critical at 65% of it, early enough
// that each dump's allocation profile can still be fetched (it needs 32 MiB of headroom).
const HARD = 0.45
const CRITICAL = 0.65
const oldSpaceFlag = process.execArgv.map((a) => /^--max-old-space-size=(\d+)$/.exec(a)).find(Boolean)
const limitBytes = (heapStatistics) => (oldSpaceFlag ? Number(oldSpaceFlag[1]) * 2 ** 20 : heapStatistics.heap_size_limit)

const dumper = new MemoryDiagnosticsDumper({
  directory,
  sessionId: 'demo-session',
  maxDumpsPerSession: 3,
  cooldownMs: 200,
  appVersion: 'memory-diagnostics-dumper demo',
  // As we advise a CLI to run: the flight recorder keeps the trajectory on disk (here one
  // line every 100 ms), the allocation sites of the live heap go into every dump (which code
  // grew), and a blocked event loop's stack goes into the watchdog's dump.
  recorder: { intervalMs: 100, samples: 60 },
  allocationProfile: true,
  watchdog: { rssRatio: 0.8, stallMs: 5000, captureStack: true },
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

// The leak: every turn of the conversation is kept, with its tokens, and never dropped. A
// function of the size of real code (V8 inlines a very short one into its caller, and then
// the caller is what a sampling profile names).
function rememberTurn(turn) {
  const entries = []
  for (let i = 0; i < 4000; i++) {
    const text = `conversation entry ${turn}:${i} `.repeat(2)
    const tokens = text.length >> 2
    const role = i % 2 ? 'assistant' : 'user'
    entries.push({ id: i, turn, role, text, tokens, at: Date.now() })
  }
  if (entries.length !== 4000) throw new Error('lost an entry')
  retained.push(entries)
  return entries.length
}

function allocate() {
  if (Date.now() >= pauseUntil) rememberTurn(retained.length)
  setTimeout(allocate, 2)
}
console.log(`[child] pid ${process.pid}, old-space limit ${(limitBytes(v8.getHeapStatistics()) / 2 ** 20).toFixed(0)} MiB; retaining memory until V8 gives up`)
allocate()
