// One benchmark measurement in a fresh process: `node bench/worker.mjs <what> <args...>`.
// Prints one JSON line. Driven by bench/run.mjs.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import v8 from 'node:v8'
import { PlainJsDumper } from './plain-js.mjs'

const require = createRequire(import.meta.url)
const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..')
const native = require('../native.js')
const js = require('../fallback.js').create('benchmark')
const hooksDir = path.join(root, 'target', 'test-hooks')
const hooks = require(path.join(hooksDir, fs.readdirSync(hooksDir).find((f) => f.endsWith('.node'))))

const [what, ...args] = process.argv.slice(2)
const input = () => ({ heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage(), heapSpaces: v8.getHeapSpaceStatistics() })
const opts = (dir) => ({ directory: dir, maxDumpsPerSession: 1_000_000, cooldownMs: 0, maxFiles: 1000 })
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]
const p99 = (a) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * 0.99))]

/** The contenders: each `dump()` returns a promise (or a value) once phase 1 is done. */
function contenders(base) {
  const dir = (n) => {
    const d = path.join(base, n)
    fs.mkdirSync(d, { recursive: true, mode: 0o700 })
    return d
  }
  const nativeDumper = new native.MemoryDiagnosticsDumper(opts(dir('native')))
  const jsDumper = new js.MemoryDiagnosticsDumper(opts(dir('js')))
  const reportDir = dir('report')
  const floorJs = dir('floor-js')
  const floorRust = dir('floor-rust')
  const floorLink = dir('floor-link')
  // A real native phase-1 document (read before its phase 2 replaces it): the floors write
  // exactly these bytes, and the plain-JS contender a document of the same size.
  const sample = phase1Document(dir('sample'))
  const plain = new PlainJsDumper({ directory: dir('plain'), padTo: sample.length })
  let n = 0
  return {
    native: (i) => nativeDumper.dump('hard', i),
    js: (i) => jsDumper.dump('hard', i),
    'plain JS': (i) => plain.dump('hard', i),
    'node report': () => {
      const report = process.report.getReport()
      fs.writeFileSync(path.join(reportDir, `report-${++n % 50}.json`), JSON.stringify(report))
    },
    'floor (writeFileSync)': () => fs.writeFileSync(path.join(floorJs, `f-${++n % 50}.json`), sample),
    'floor (Rust create+write+rename)': () => hooks.benchWriteFloor(floorRust, `memory-floor-2026-01-01T00-00-00-000Z-${++n}.json`, sample),
    'floor (Rust write+link, pre-opened)': () => hooks.benchLinkFloor(`memory-floor-2026-01-01T00-00-00-000Z-${++n}.json`, sample),
    // Untimed set-up before a contender's call.
    prepare: { 'floor (Rust write+link, pre-opened)': () => hooks.benchLinkFloorArm(floorLink) },
    sampleBytes: sample.length,
  }
}

function phase1Document(dir) {
  const d = new native.MemoryDiagnosticsDumper({ ...opts(dir), sessionId: 'sample' })
  for (;;) {
    d.dump('hard', input())
    const f = fs.readdirSync(dir).find((x) => x.endsWith('.json'))
    const text = fs.readFileSync(path.join(dir, f))
    fs.rmSync(path.join(dir, f))
    if (!JSON.parse(text).collectionComplete) return text
  }
}

async function phase1(base, rounds) {
  const c = contenders(base)
  const names = Object.keys(c).filter((k) => typeof c[k] === 'function')
  const p1 = Object.fromEntries(names.map((n) => [n, []]))
  const total = Object.fromEntries(names.map((n) => [n, []]))
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length] // alternate the order every round
      const i = input()
      c.prepare[name]?.()
      const elu0 = performance.eventLoopUtilization()
      const t0 = performance.now()
      const p = c[name](i)
      const t1 = performance.now()
      await p
      // Let the promise's settle callback and any phase-2 JS work run.
      await new Promise((res) => setImmediate(res))
      const elu = performance.eventLoopUtilization(elu0)
      p1[name].push((t1 - t0) * 1000)
      total[name].push(Math.max(elu.active, t1 - t0) * 1000)
    }
  }
  const out = {}
  for (const n of names) out[n] = { phase1Median: median(p1[n]), phase1P99: p99(p1[n]), totalMedian: median(total[n]), totalP99: p99(total[n]) }
  return { results: out, sampleBytes: c.sampleBytes }
}

async function heapAlloc(base, iterations) {
  const c = contenders(base)
  const out = {}
  for (const name of ['native', 'js', 'plain JS', 'node report']) {
    const inputs = Array.from({ length: iterations }, input) // the caller's own objects, made beforehand
    globalThis.gc()
    const before = v8.getHeapStatistics().used_heap_size
    for (let k = 0; k < iterations; k++) await c[name](inputs[k])
    const after = v8.getHeapStatistics().used_heap_size
    out[name] = Math.max(0, (after - before) / iterations)
    inputs.length = 0
  }
  // What any awaited promise carrying an equivalent result object costs a JS caller.
  const sample = { filePath: path.join(base, 'native', 'memory-nosessn-2026-01-01T00-00-00-000Z-1.json'), trigger: 'hard', complete: true, written: true }
  globalThis.gc()
  const before = v8.getHeapStatistics().used_heap_size
  for (let k = 0; k < iterations; k++) await Promise.resolve({ ...sample, dumpNumber: k })
  out['baseline: await of a resolved promise'] = Math.max(0, (v8.getHeapStatistics().used_heap_size - before) / iterations)
  return out
}

async function forks(base, name, count) {
  const c = contenders(base)
  for (let k = 0; k < count; k++) await c[name](input())
  return { done: count }
}

async function scale(base, mib) {
  // Make the process really that big: touched pages, resident.
  const held = []
  for (let left = mib; left > 0; left -= 256) held.push(Buffer.alloc(Math.min(256, left) * 2 ** 20, 1))
  const c = contenders(base)
  const out = {}
  const names = ['native', 'js', 'plain JS', 'node report']
  const lat = Object.fromEntries(names.map((n) => [n, []]))
  const withoutSmaps = []
  for (let r = 0; r < 8; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length]
      const t0 = performance.now()
      const res = await c[name](input())
      lat[name].push(performance.now() - t0)
      if (name === 'native') {
        // The kernel walks every page table entry for smaps_rollup; the document says how long.
        const doc = JSON.parse(fs.readFileSync(res.filePath, 'utf8'))
        withoutSmaps.push(doc.collection.phase2Millis - (doc.collection.probeMicros.smapsRollup ?? 0) / 1000)
      }
    }
  }
  for (const n of names) out[n] = median(lat[n])
  out.nativePhase2WithoutSmapsMs = median(withoutSmaps)
  out.rssMiB = process.memoryUsage().rss / 2 ** 20
  return out
}

async function pressure(base, name) {
  // Fill the JS heap to 97% of the old space (--max-old-space-size=64), then try 100 dumps.
  const limit = 64 * 2 ** 20
  const keep = []
  while (v8.getHeapStatistics().used_heap_size < 0.97 * limit) {
    const chunk = []
    for (let i = 0; i < 500; i++) chunk.push({ i, s: `entry ${i}` })
    keep.push(chunk)
  }
  const c = contenders(base)
  let resolved = 0
  for (let k = 0; k < 100; k++) {
    try {
      await c[name](input())
      resolved++
    } catch {}
  }
  return { resolved, usedAtStart: v8.getHeapStatistics().used_heap_size / limit }
}

function observeCost(iterations) {
  const d = new native.MemoryDiagnosticsDumper({ directory: fs.mkdtempSync('/tmp/mdd-observe-'), recorder: { intervalMs: 60_000 } })
  const h = v8.getHeapStatistics()
  const u = process.memoryUsage()
  const noop = (a, b) => a !== b
  const time = (f) => {
    const t0 = process.hrtime.bigint()
    for (let k = 0; k < iterations; k++) f(h, u)
    return Number(process.hrtime.bigint() - t0) / iterations
  }
  time(noop)
  time((a, b) => d.observe(a, b))
  const res = { observeNs: time((a, b) => d.observe(a, b)), noopNs: time(noop) }
  d.close()
  return res
}

const base = args[0]
let result
if (what === 'phase1') result = await phase1(base, Number(args[1]))
else if (what === 'heap') result = await heapAlloc(base, Number(args[1]))
else if (what === 'forks') result = await forks(base, args[1], Number(args[2]))
else if (what === 'scale') result = await scale(base, Number(args[1]))
else if (what === 'pressure') result = await pressure(base, args[1])
else if (what === 'observe') result = observeCost(Number(args[0]))
process.stdout.write(JSON.stringify(result) + '\n')
