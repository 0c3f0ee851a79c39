// One benchmark measurement in a fresh process: `node bench/worker.mjs <what> <args...>`.
// Prints one JSON line. Driven by bench/run.mjs.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import v8 from 'node:v8'
import { PlainJsDumper } from './plain-js.mjs'

const require = createRequire(import.meta.url)
const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..')
const native = require('../native.js')
const js = require('../lib/fallback/dump.js').create('benchmark')
const { wrap, fill, activeResources } = require('../lib/dumper/public-class.js')
const hooksDir = path.join(root, 'target', 'test-hooks')
const hooks = require(
  path.join(
    hooksDir,
    fs.readdirSync(hooksDir).find((f) => f.endsWith('.node')),
  ),
)

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
  // Both implementations through the public class, as a host calls them (the package
  // entry's wrapper: its fast path for the native one).
  const nativeDumper = new (require('../index.js').MemoryDiagnosticsDumper)(opts(dir('native')))
  const jsDumper = new (wrap(js.MemoryDiagnosticsDumper))(opts(dir('js')))
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
    // The drop-in call: the wrapper collects what the host left out.
    'native, input omitted': () => nativeDumper.dump('hard'),
    js: (i) => jsDumper.dump('hard', i),
    // A host's own JS dumper collects its figures inside the call, as hosts write it.
    'plain JS': () => plain.dump('hard'),
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
      // Untimed: let this contender's leftovers (the plain-JS `ps` child, threadpool work)
      // finish, so they do not land in the next contender's timed call.
      await new Promise((res) => setTimeout(res, 5))
    }
  }
  const out = {}
  for (const n of names) out[n] = { phase1Median: median(p1[n]), phase1P99: p99(p1[n]), totalMedian: median(total[n]), totalP99: p99(total[n]) }
  return { results: out, sampleBytes: c.sampleBytes }
}

async function heapAlloc(base, iterations) {
  const c = contenders(base)
  /**
   * Growth of used_heap_size per awaited call, after a warm-up (compiled code and feedback
   * are not per-dump costs) and a full GC; the median of 5 repetitions, since V8's
   * background work moves the figure between runs.
   */
  const perCall = async (f, make) => {
    const reps = []
    for (let rep = 0; rep < 5; rep++) {
      const args = Array.from({ length: iterations }, make) // the caller's own objects, made beforehand
      for (let k = 0; k < 20; k++) await f(make())
      globalThis.gc()
      const before = v8.getHeapStatistics().used_heap_size
      for (let k = 0; k < iterations; k++) await f(args[k])
      reps.push(Math.max(0, (v8.getHeapStatistics().used_heap_size - before) / iterations))
    }
    return median(reps)
  }
  const out = {}
  for (const name of ['native', 'native, input omitted', 'js', 'plain JS', 'node report']) out[name] = await perCall(c[name], input)
  // What any awaited promise carrying an equivalent result object costs a JS caller.
  const sample = { filePath: path.join(base, 'native', 'memory-nosessn-2026-01-01T00-00-00-000Z-1.json'), trigger: 'hard', complete: true, written: true }
  let k = 0
  out['baseline: await of a resolved promise'] = await perCall(
    () => Promise.resolve({ ...sample, dumpNumber: k++ }),
    () => null,
  )
  // Where the native figure goes: the same awaited call skipped by the session cap (the
  // input read through Node-API, a promise resolved with null), and a full dump with
  // empty input objects (promise, phase 2 settled through the dumper's threadsafe
  // function, result object).
  const capped = new native.MemoryDiagnosticsDumper({ ...opts(path.join(base, 'capped')), maxDumpsPerSession: 1 })
  await capped.dump('hard', input())
  const full = new native.MemoryDiagnosticsDumper(opts(path.join(base, 'empty-input')))
  const empty = () => ({ heapStatistics: {}, memoryUsage: {} })
  out['native, skipped by the cap (input read, promise resolved with null)'] = await perCall((i) => capped.dump('hard', i), input)
  out['native, skipped by the cap, empty input objects'] = await perCall((i) => capped.dump('hard', i), empty)
  out['native, full dump with empty input objects'] = await perCall((i) => full.dump('hard', i), empty)
  return out
}

async function forks(base, name, count) {
  const c = contenders(base)
  for (let k = 0; k < count; k++) await c[name](input())
  return { done: count }
}

/** Median time of a direct read of /proc/self/smaps_rollup (the kernel's page-table walk). */
function smapsReadMs(n = 9) {
  const t = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    fs.readFileSync('/proc/self/smaps_rollup')
    t.push(performance.now() - t0)
  }
  return median(t)
}

/** Makes the process really `mib` bigger: touched pages, resident. */
function holdResident(mib) {
  const held = []
  for (let left = mib; left > 0; left -= 256) held.push(Buffer.alloc(Math.min(256, left) * 2 ** 20, 1))
  return held
}

async function scale(base, mib) {
  const atStart = { rssMiB: process.memoryUsage().rss / 2 ** 20, smapsReadMs: smapsReadMs() }
  const held = holdResident(mib)
  const c = contenders(base)
  // The same addon with the page-table walk opted in, for comparison.
  const alwaysDir = path.join(base, 'native-always')
  const always = new native.MemoryDiagnosticsDumper({ ...opts(alwaysDir), smapsRollup: 'always' })
  c['native, smapsRollup always'] = (i) => always.dump('hard', i)
  const out = {}
  const names = ['native', 'js', 'plain JS', 'node report', 'native, smapsRollup always']
  const lat = Object.fromEntries(names.map((n) => [n, []]))
  const phase2 = []
  const sources = new Set()
  for (let r = 0; r < 8; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length]
      const t0 = performance.now()
      const res = await c[name](input())
      lat[name].push(performance.now() - t0)
      if (name === 'native') {
        const doc = JSON.parse(fs.readFileSync(res.filePath, 'utf8'))
        phase2.push(doc.collection.phase2Millis)
        const s = doc.process.rssSplit
        sources.add(`anon ${s.anon.source}, file ${s.file.source}, shmem ${s.shmem.source}, swap ${s.swap.source}; pss ${s.pss.source ?? 'skipped'}`)
      }
    }
  }
  for (const n of names) out[n] = median(lat[n])
  out.nativePhase2Millis = median(phase2)
  out.rssSplitSources = [...sources]
  out.rssMiB = process.memoryUsage().rss / 2 ** 20
  out.smapsReadMs = smapsReadMs()
  out.atStart = atStart
  held.length = 0
  return out
}

/**
 * The host's event-loop delay (p99, monitorEventLoopDelay) under a GC-heavy workload on the
 * JS thread at `mib` resident: alternating segments without dumps, with the addon dumping
 * back to back (phase 2 always in flight), and with smapsRollup 'always' for comparison.
 */
async function eventLoop(base, mib, seconds) {
  const held = holdResident(mib)
  const mk = (n, extra) => new native.MemoryDiagnosticsDumper({ ...opts(path.join(base, n)), maxFiles: 20, ...extra })
  const conditions = { 'no dumps': null, native: mk('native', {}), 'native, smapsRollup always': mk('always', { smapsRollup: 'always' }) }
  const names = Object.keys(conditions)
  // One histogram, always enabled (re-enabling one counts the disabled time as a delay),
  // reset at the start of each segment; a condition's figure is the median of its
  // segments' p99.
  const eld = monitorEventLoopDelay({ resolution: 1 })
  eld.enable()
  const p99s = Object.fromEntries(names.map((n) => [n, []]))
  const means = Object.fromEntries(names.map((n) => [n, []]))
  const dumps = Object.fromEntries(names.map((n) => [n, 0]))
  // The workload: 5 ms slices of allocation (short-lived objects plus a churning retained
  // set, so both scavenges and mark-compacts run), yielding to the loop between slices.
  let keep = []
  let running = true
  const work = () => {
    if (!running) return
    const end = performance.now() + 5
    while (performance.now() < end) {
      const chunk = []
      for (let i = 0; i < 100; i++) chunk.push({ i, s: `item ${i}`, a: [i, i + 1] })
      keep.push(chunk)
      if (keep.length > 1000) keep = keep.slice(500)
    }
    setImmediate(work)
  }
  const segmentMs = (seconds * 1000) / 6
  for (let seg = 0; seg < 6 * names.length; seg++) {
    const name = names[seg % names.length]
    const dumper = conditions[name]
    running = true
    setImmediate(work)
    let dumping = !!dumper
    const loop = async () => {
      while (dumping) {
        await dumper.dump('hard', input())
        dumps[name]++
      }
    }
    const dumpLoop = dumper ? loop() : null
    await new Promise((r) => setTimeout(r, 20))
    eld.reset()
    await new Promise((r) => setTimeout(r, segmentMs))
    p99s[name].push(eld.percentile(99) / 1e6)
    means[name].push(eld.mean / 1e6)
    dumping = false
    running = false
    await dumpLoop
    await new Promise((r) => setTimeout(r, 50))
  }
  const out = { rssMiB: process.memoryUsage().rss / 2 ** 20 }
  eld.disable()
  for (const n of names) out[n] = { p99Ms: median(p99s[n]), maxP99Ms: Math.max(...p99s[n]), meanMs: median(means[n]), dumps: dumps[n] }
  held.length = 0
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
  const h = v8.getHeapStatistics()
  const u = process.memoryUsage()
  const noop = (a, b) => a !== b
  const time = (f) => {
    const t0 = process.hrtime.bigint()
    for (let k = 0; k < iterations; k++) f(h, u)
    return Number(process.hrtime.bigint() - t0) / iterations
  }
  const measure = (d) => {
    time((a, b) => d.observe(a, b))
    const ns = time((a, b) => d.observe(a, b))
    d.close()
    return ns
  }
  const dir = () => fs.mkdtempSync('/tmp/mdd-observe-')
  // The addon's own checked observe() (every property read through Node-API), before the
  // package entry is loaded...
  const checkedNs = measure(new native.MemoryDiagnosticsDumper({ directory: dir(), recorder: { intervalMs: 60_000 } }))
  // ...and observe() as hosts get it from the package entry (figures written from JS into
  // the recorder's memory).
  const entry = require('../index.js')
  const observeNs = measure(new entry.MemoryDiagnosticsDumper({ directory: dir(), recorder: { intervalMs: 60_000 } }))
  time(noop)
  return { observeNs, checkedNs, noopNs: time(noop) }
}

/**
 * What `dump(trigger)` with the input omitted costs the JS thread, measured in place: each
 * round times each Node API the collection calls and the whole collection between dumps (as
 * a host calls them, not in a tight loop, where they look several times cheaper), then
 * phase 1 through the public class with the input omitted and with the same figures passed
 * (built beforehand, untimed), alternating.
 */
async function collectCost(base, rounds) {
  const parts = {
    'v8.getHeapStatistics()': () => v8.getHeapStatistics(),
    'process.memoryUsage()': () => process.memoryUsage(),
    'v8.getHeapSpaceStatistics()': () => v8.getHeapSpaceStatistics(),
    'process.getActiveResourcesInfo() by type': () => activeResources(),
    'all of it (what dump(trigger) collects)': () => fill(undefined),
  }
  const names = Object.keys(parts)
  const times = Object.fromEntries([...names, 'phase 1, input omitted', 'phase 1, input passed'].map((k) => [k, []]))
  fs.mkdirSync(base, { recursive: true, mode: 0o700 })
  const d = new (wrap(native.MemoryDiagnosticsDumper))(opts(base))
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < names.length; k++) {
      const name = names[(k + r) % names.length]
      const t0 = performance.now()
      parts[name]()
      times[name].push((performance.now() - t0) * 1000)
    }
    for (const which of r % 2 ? ['passed', 'omitted'] : ['omitted', 'passed']) {
      const given = which === 'passed' ? fill(undefined) : undefined
      const t0 = performance.now()
      const p = d.dump('hard', given)
      times[`phase 1, input ${which}`].push((performance.now() - t0) * 1000)
      await p
    }
  }
  return Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)]))
}

/**
 * glibc's mallinfo2() in this Node process: each call's time (it holds each arena's lock
 * while it walks that arena's free lists) and the slowest malloc+free of another thread
 * without and with the calls, after `fragment` small blocks were allocated and every
 * other one freed (long free lists are what the call walks).
 */
function mallinfo(fragments, calls) {
  const out = []
  for (const fragment of fragments) {
    const b = hooks.benchMallinfo2(fragment, calls)
    const us = b.callNanos.map((n) => n / 1000)
    out.push({
      fragment,
      calls: us.length,
      medianUs: median(us),
      p99Us: p99(us),
      maxUs: us.at(-1),
      mallocMaxIdleUs: b.mallocMaxNanosIdle / 1000,
      mallocMaxDuringUs: b.mallocMaxNanosDuring / 1000,
      freeRetainedMiB: b.freeRetainedBytes / 2 ** 20,
      inUseMiB: b.inUseBytes / 2 ** 20,
    })
  }
  return out
}

const base = args[0]
let result
if (what === 'phase1') result = await phase1(base, Number(args[1]))
else if (what === 'heap') result = await heapAlloc(base, Number(args[1]))
else if (what === 'forks') result = await forks(base, args[1], Number(args[2]))
else if (what === 'scale') result = await scale(base, Number(args[1]))
else if (what === 'pressure') result = await pressure(base, args[1])
else if (what === 'eventloop') result = await eventLoop(base, Number(args[1]), Number(args[2]))
else if (what === 'observe') result = observeCost(Number(args[0]))
else if (what === 'collect') result = await collectCost(base, Number(args[1]))
else if (what === 'mallinfo') result = mallinfo(args[0].split(',').map(Number), Number(args[1]))
process.stdout.write(JSON.stringify(result) + '\n')
