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

/** The profiler of this thread (the inspector session is per isolate), shared by its dumpers. */
let profiler = null

/** The validated option as numbers (the implementation underneath already checked it). */
function settings(option) {
  const o = option !== null && typeof option === 'object' ? option : {}
  return {
    samplingIntervalBytes: o.samplingIntervalBytes ?? DEFAULTS.allocationSamplingIntervalBytes,
    maxSites: o.maxSites ?? DEFAULTS.allocationMaxSites,
  }
}

/**
 * Starts (or joins) this thread's sampling. Returns a handle, or `{ error }` when it cannot
 * run: no inspector in this build of Node, or the profiler refused to start.
 */
function start(option) {
  const s = settings(option)
  if (profiler === null) {
    let inspector
    try {
      inspector = require('node:inspector')
    } catch (e) {
      return { error: `node:inspector is not available: ${String(e && e.message).slice(0, 200)}` }
    }
    let session
    let failed = null
    try {
      session = new inspector.Session()
      session.connect()
      // In-process sessions answer synchronously.
      session.post('HeapProfiler.startSampling', { samplingInterval: s.samplingIntervalBytes }, (e) => {
        failed = e
      })
    } catch (e) {
      failed = e
    }
    if (failed) {
      try {
        session?.disconnect()
      } catch {}
      return { error: `the sampling heap profiler did not start: ${String((failed && failed.message) || failed).slice(0, 200)}` }
    }
    profiler = { session, samplingIntervalBytes: s.samplingIntervalBytes, users: 0 }
  }
  profiler.users += 1
  return { profiler, maxSites: s.maxSites, stopped: false }
}

/** A dumper leaves; the last one stops the profiler and disconnects the session. */
function stop(handle) {
  if (!handle || handle.stopped || !handle.profiler) return
  handle.stopped = true
  const p = handle.profiler
  p.users -= 1
  if (p.users > 0 || profiler !== p) return
  profiler = null
  try {
    p.session.post('HeapProfiler.stopSampling', () => {})
    p.session.disconnect()
  } catch {}
}

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
  // Depth-first without recursion: a deep profile must not overflow the stack.
  const stack = [{ node: head, parents: [] }]
  while (stack.length > 0) {
    const { node, parents } = stack.pop()
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

/**
 * Fetches and summarizes the profile for a dump, or says why not. The rule for room: the
 * reply is built as a JS string and parsed into objects on the V8 heap, so it is fetched
 * only while the heap has at least `allocationMinFreeHeapBytes` (32 MiB) below its limit.
 */
function fetchSection(handle) {
  const p = handle.profiler
  const skipped = (why) => ({ status: 'skipped', skipped: why, samplingIntervalBytes: p ? p.samplingIntervalBytes : 0, sites: [] })
  if (!p || handle.stopped) return skipped('the profiler was stopped (close())')
  const h = v8.getHeapStatistics()
  const free = h.heap_size_limit - h.used_heap_size
  if (!(free >= LIMITS.allocationMinFreeHeapBytes)) {
    const mib = (b) => `${Math.round(b / 2 ** 20)} MiB`
    return skipped(`the V8 heap has ${mib(free)} free below its limit; fetching the profile needs at least ${mib(LIMITS.allocationMinFreeHeapBytes)}`)
  }
  const started = performance.now()
  let profile = null
  let failed = null
  try {
    p.session.post('HeapProfiler.getSamplingProfile', (e, r) => {
      failed = e
      profile = r && r.profile
    })
  } catch (e) {
    failed = e
  }
  if (failed || !profile || !profile.head) return skipped(`the profiler gave no profile: ${String((failed && failed.message) || 'empty reply').slice(0, 200)}`)
  const { total, sites } = summarize(profile.head, handle.maxSites)
  return {
    status: 'taken',
    samplingIntervalBytes: p.samplingIntervalBytes,
    totalSampledBytes: total,
    fetchMillis: Math.round((performance.now() - started) * 1e3) / 1e3,
    sites,
  }
}

module.exports = { start, stop, fetchSection, summarize }
