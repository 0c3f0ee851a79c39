'use strict'
// Allocation profiles (`options.allocationProfile`, docs/allocation-profiles.md): which code
// holds the live JS heap. V8's sampling heap profiler is reachable from JS through the
// inspector protocol, so this module keeps one in-process inspector session per thread (all
// dumpers of the thread share it) with the profiler sampling live allocations, and, once a
// dump's phase 2 is on disk, fetches the profile and summarizes it into the sites with the
// most live bytes. The implementation underneath adds the summary to the dump by one more
// atomic replace. Names, script paths, lines and sizes only: a sample never holds a value.
// Loaded only when the option is on.

const os = require('node:os')
const v8 = require('node:v8')
const { redactPlace, redactText } = require('../rules/places.js')
const CONTRACT = require('../contract.json')

const LIMITS = CONTRACT.options.limits
const DEFAULTS = CONTRACT.options.defaults

/** The validated option as numbers (the implementation underneath already checked it). */
function settings(option) {
  const o = option !== null && typeof option === 'object' ? option : {}
  return {
    samplingIntervalBytes: o.samplingIntervalBytes ?? DEFAULTS.allocationSamplingIntervalBytes,
    maxSites: o.maxSites ?? DEFAULTS.allocationMaxSites,
  }
}

/**
 * V8's sampling heap profiler is one per isolate, whoever starts it: any inspector session's
 * `stopSampling` (or the disconnect of the session that started it) stops it for every
 * session. So every copy of this package loaded in a thread (a CLI and a plugin each
 * depending on it) shares one record of it, kept on the thread's global object under a
 * process-wide symbol: one session, one count of users, and whether it was this package that
 * started the sampling. A profiler some other code started (the host's own session, Node 26's
 * `v8.startHeapProfile()`) is used as it is and never stopped.
 */
const SHARED = Symbol.for('memory-diagnostics-dumper.samplingHeapProfiler')
const SHAPE = 1
/** This copy's record: published for the other copies, or kept when it cannot be. */
let own = null

function sharedRecord() {
  // On `process` (per thread, like the profiler), or on the global object where `process` is
  // frozen: every copy looks in the same places in the same order.
  const holders = [process, globalThis]
  for (const holder of holders) {
    try {
      const p = holder[SHARED]
      if (p !== null && typeof p === 'object' && p.shape === SHAPE && typeof p.users === 'number') return p
    } catch {}
  }
  if (own === null) own = fresh()
  for (const holder of holders) {
    try {
      if (Object.getOwnPropertyDescriptor(holder, SHARED) !== undefined) continue
      Object.defineProperty(holder, SHARED, { value: own, configurable: true, writable: false, enumerable: false })
      return own
    } catch {}
  }
  // Nowhere to publish it (both frozen, or taken by something else): this copy keeps its own.
  return own
}

function fresh() {
  return { shape: SHAPE, session: null, users: 0, started: false, samplingIntervalBytes: 0 }
}

/** Calls `method` on an in-process session (they answer synchronously): `{ error, result }`. */
function call(session, method, params) {
  let error = null
  let result = null
  try {
    session.post(method, params ?? {}, (e, r) => {
      error = e
      result = r
    })
  } catch (e) {
    error = e
  }
  return { error, result }
}

const firstLine = (e) =>
  String((e && e.message) || e)
    .split('\n')[0]
    .slice(0, 200)

/** Whether the isolate's sampling heap profiler runs (V8 answers "not started" otherwise). */
function samplingRuns(session) {
  return call(session, 'HeapProfiler.getSamplingProfile').error === null
}

/**
 * Starts (or joins) this thread's sampling. Returns a handle, or `{ error }` when it cannot
 * run: no inspector in this build of Node, or the profiler refused to start.
 */
function start(option) {
  try {
    return startSampling(option)
  } catch (e) {
    return { error: `the sampling heap profiler could not be shared: ${firstLine(e)}` }
  }
}

function startSampling(option) {
  const s = settings(option)
  const p = sharedRecord()
  if (p.session === null) {
    let inspector
    try {
      inspector = require('node:inspector')
    } catch (e) {
      return { error: `node:inspector is not available: ${firstLine(e)}` }
    }
    let session = null
    let failed = null
    let started = false
    try {
      session = new inspector.Session()
      session.connect()
      // Sampling some other code started is joined, not restarted: starting it again from
      // this session would make this session's end stop it.
      if (!samplingRuns(session)) {
        failed = call(session, 'HeapProfiler.startSampling', { samplingInterval: s.samplingIntervalBytes }).error
        started = failed === null
      }
    } catch (e) {
      failed = e
    }
    if (failed) {
      try {
        session?.disconnect()
      } catch {}
      return { error: `the sampling heap profiler did not start: ${firstLine(failed)}` }
    }
    p.session = session
    p.started = started
    p.samplingIntervalBytes = s.samplingIntervalBytes
  }
  p.users += 1
  return { profiler: p, maxSites: s.maxSites, stopped: false }
}

/**
 * A dumper leaves. When the last user of the thread's record leaves, the session ends; the
 * sampling stops with it only when this package started it (V8 stops it at the disconnect
 * of the session that started it; sampling the host started goes on).
 */
function stop(handle) {
  try {
    stopSampling(handle)
  } catch {}
}

function stopSampling(handle) {
  if (!handle || handle.stopped || !handle.profiler) return
  handle.stopped = true
  const p = handle.profiler
  p.users -= 1
  if (p.users > 0 || p.session === null) return
  const session = p.session
  p.session = null
  p.started = false
  try {
    session.disconnect()
  } catch {}
}

/** The nodes of a profile summarized at most (V8's own trees have thousands). */
const MAX_NODES = 1_000_000

const home = os.homedir()
const cut = (s, n) => (s.length > n ? Array.from(s).slice(0, n).join('') : s)

/** A protocol call frame as the document's frame: 1-based places, the script through the place rule (lib/rules/places.js). */
function frameOf(cf) {
  const script = redactPlace(cf.url || '', home)
  return {
    function: cut(redactText(cf.functionName || '(anonymous)', home), LIMITS.allocationFunctionChars),
    script: cut(script, LIMITS.allocationScriptChars),
    line: cf.lineNumber >= 0 ? cf.lineNumber + 1 : null,
    column: cf.columnNumber >= 0 ? cf.columnNumber + 1 : null,
  }
}

/**
 * The profile tree summarized: every call path with live bytes of its own is a site; the
 * `maxSites` largest are kept, each with its callers (nearest first, at most 8).
 */
function summarize(head, maxSites) {
  const found = []
  let total = 0
  // Depth-first without recursion: a deep profile must not overflow the stack. Each node is
  // visited once and at most MAX_NODES in all: a profile is a tree, but the reply comes
  // through a method a host may have replaced.
  const stack = [{ node: head, parents: [] }]
  const seen = new Set()
  while (stack.length > 0 && seen.size < MAX_NODES) {
    const { node, parents } = stack.pop()
    if (node === null || typeof node !== 'object' || seen.has(node)) continue
    seen.add(node)
    const isRoot = node === head
    if (!isRoot && node.selfSize > 0) {
      total += node.selfSize
      found.push({ node, parents })
    }
    const here = isRoot ? parents : [node, ...parents].slice(0, LIMITS.allocationPathFrames)
    for (const child of node.children || []) stack.push({ node: child, parents: here })
  }
  found.sort((a, b) => b.node.selfSize - a.node.selfSize)
  const sites = found.slice(0, maxSites).map(({ node, parents }) => ({
    ...frameOf(node.callFrame),
    liveBytes: node.selfSize,
    share: total > 0 ? Math.round((node.selfSize / total) * 1e4) / 1e4 : 0,
    path: parents.map((p) => frameOf(p.callFrame)),
  }))
  return { total, sites }
}

const MIB = 2 ** 20
/**
 * The semi-space V8 sizes its young generation by, per V8 major version, in MiB: measured
 * as `heap_size_limit` less `--max-old-space-size` (a third of it, the young generation being
 * two semi-spaces and a large-object space of one) on Node 20 (V8 11), 22 (12), 24 (13) and
 * 26 (14), with old generations of 64 MiB to 1 GiB. A V8 not in the table gets the largest.
 */
const SEMI_SPACE_MIB = { 11: 16, 12: 16, 13: 64, 14: 32 }

/** The value of a V8 size flag (MiB) in Node's flags, or null. */
function flagMib(flags, name) {
  let found = null
  for (const f of flags) {
    const m = /^--(max[-_]old[-_]space[-_]size|max[-_]semi[-_]space[-_]size|max[-_]heap[-_]size)=\+?(\d+)$/.exec(f)
    if (m !== null && m[1].replace(/_/g, '-') === name) found = Number(m[2])
  }
  return found
}

/**
 * The room left in the V8 heap, as the limit that ends the process sees it. V8 runs out of
 * heap when its old generation reaches its own limit, which is `heap_size_limit` less what it
 * keeps for the young generation (48 MiB on Node 20 and 22, 96 MiB on Node 26, 192 MiB on
 * Node 24): `heap_size_limit − used_heap_size` overstated the room by that much (62 MiB
 * "free" 13 MiB before a real OOM). Returns `{ free, reserve }` in bytes; `free` may be
 * negative.
 */
function heapRoom(h = v8.getHeapStatistics(), flags = require('./node-flags.js').nodeFlags(), v8Version = process.versions.v8) {
  const limit = h.heap_size_limit
  const old = flagMib(flags, 'max-old-space-size')
  const semi = flagMib(flags, 'max-semi-space-size')
  const whole = flagMib(flags, 'max-heap-size')
  let reserve
  // A flag that does not match the limit (one set at run time) is not the one in force.
  if (old !== null && old * MIB < limit && limit - old * MIB <= 512 * MIB) reserve = limit - old * MIB
  else if (semi !== null) reserve = 3 * semi * MIB
  else {
    const major = Number.parseInt(String(v8Version), 10)
    reserve = 3 * (SEMI_SPACE_MIB[major] ?? Math.max(...Object.values(SEMI_SPACE_MIB))) * MIB
    // --max-heap-size sets the whole limit, and V8 then sizes the young generation down with
    // it: an eighth of the limit at most (a 200 MiB heap keeps about 6 MiB on Node 24).
    if (whole !== null && whole * MIB === limit) reserve = Math.min(reserve, Math.ceil(limit / 8))
  }
  return { free: limit - reserve - h.used_heap_size, reserve }
}

/**
 * Fetches and summarizes the profile for a dump, or says why not. The rule for room: the
 * reply is built as a JS string and parsed into objects on the V8 heap, so it is fetched
 * only while the old generation has at least `allocationMinFreeHeapBytes` (32 MiB) below
 * its limit (heapRoom()).
 */
function fetchSection(handle) {
  const p = handle.profiler
  const skipped = (why) => ({ status: 'skipped', skipped: why, samplingIntervalBytes: p ? p.samplingIntervalBytes : 0, sites: [] })
  if (!p || handle.stopped) return skipped('the profiler was stopped (close())')
  const { free, reserve } = heapRoom()
  if (!(free >= LIMITS.allocationMinFreeHeapBytes)) {
    const mib = (b) => `${Math.round(b / MIB)} MiB`
    return skipped(
      `the V8 heap has ${mib(Math.max(0, free))} free below its old generation's limit (its heap_size_limit less ${mib(reserve)} kept for the young generation); fetching the profile needs at least ${mib(LIMITS.allocationMinFreeHeapBytes)}`,
    )
  }
  const started = performance.now()
  const { error, result } = call(p.session, 'HeapProfiler.getSamplingProfile')
  if (error !== null && !samplingRuns(p.session)) {
    // Other code in the process stopped the isolate's one sampling profiler (its own
    // session's stopSampling, Node's v8.stopHeapProfile(), another session's end). Start it
    // again here, so that the next dump has sites, and say so in this one.
    const again = call(p.session, 'HeapProfiler.startSampling', { samplingInterval: p.samplingIntervalBytes }).error
    if (again === null) p.started = true
    return skipped(
      again === null
        ? 'other code in this process stopped the sampling heap profiler; it samples again from now on, so the next dump has sites'
        : `other code in this process stopped the sampling heap profiler, and it did not start again: ${firstLine(again)}`,
    )
  }
  const profile = result && result.profile
  if (error !== null || !profile || !profile.head) return skipped(`the profiler gave no profile: ${error !== null ? firstLine(error) : 'empty reply'}`)
  const { total, sites } = summarize(profile.head, handle.maxSites)
  return {
    status: 'taken',
    samplingIntervalBytes: p.samplingIntervalBytes,
    totalSampledBytes: total,
    fetchMillis: Math.round((performance.now() - started) * 1e3) / 1e3,
    sites,
  }
}

module.exports = { start, stop, fetchSection, summarize, heapRoom }
