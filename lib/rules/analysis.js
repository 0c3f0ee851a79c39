'use strict'
// Twin of src/analysis/mod.rs and src/analysis/growth.rs; shared by the fallback and inspect.
// The analysis rules: the twin of src/analysis/. Thresholds, advice and growth kinds come
// from contract.json; tests/fixtures/golden/analysis.json (facts → risks) and growth.json
// (points → growth), both written by cargo test, check this file against the crate.
// The JS fallback's documents and `inspect` both use it.

const CONTRACT = require('../contract.json')
const { fixed } = require('./format')

const MIB = 1024 * 1024
const mib = (b) => `${fixed(b / MIB, 0)} MiB`
const GROWTH_MIN_BYTES = CONTRACT.analysis.growth.minBytes
const GROWTH_KINDS = CONTRACT.analysis.growth.kinds.map((k) => [k.kind, k.label])
const GROWTH_ADVICE = Object.fromEntries(CONTRACT.analysis.growth.kinds.map((k) => [k.kind, k.advice]))
const signedMib = (b) => (b >= 0 ? `+${mib(b)}` : mib(b))
const ext = (p) => p.external ?? p.arrayBuffers
const anonOf = (p) => p.anon ?? (p.rss != null && p.file != null ? p.rss - p.file - (p.shmem ?? 0) : null)
function kindBytes(p, kind) {
  switch (kind) {
    case 'jsHeap':
      return p.v8Heap
    case 'external':
      return ext(p)
    case 'native': {
      const a = anonOf(p) ?? p.rss
      return a == null || p.v8Heap == null ? null : a - p.v8Heap - (ext(p) ?? 0)
    }
    case 'fileBacked':
      return p.file
    case 'sharedMemory':
      return p.shmem
    default:
      return p.children
  }
}

/** Each kind's change from the first to the last point (in time order) that has it, and those two points. */
function changes(points) {
  const byKind = {}
  const spans = {}
  for (const [kind] of GROWTH_KINDS) {
    const a = points.find((p) => kindBytes(p, kind) != null)
    const b = [...points].reverse().find((p) => kindBytes(p, kind) != null)
    if (a && b && b.epochMs > a.epochMs) {
      byKind[kind] = kindBytes(b, kind) - kindBytes(a, kind)
      spans[kind] = [a, b]
    }
  }
  return { byKind, spans }
}

/** Which kind of memory grew from the first point to the last (as analysis::growth). */
/**
 * The kind that grew most from the first to the last point that has it, at least
 * GROWTH_MIN_BYTES, and the detail that explains it: the rule of src/analysis/ `growth`,
 * used by the documents (`growth` below) and by `inspect` (which words the span its own way).
 */
function growthFinding(points) {
  const { byKind, spans } = changes(points)
  const listing = GROWTH_KINDS.filter(([k]) => k in byKind)
    .map(([k, l]) => `${l} ${signedMib(byKind[k])}`)
    .join(', ')
  let top = null
  for (const [k] of GROWTH_KINDS) if (k in byKind && byKind[k] >= GROWTH_MIN_BYTES && (!top || byKind[k] > top[1])) top = [k, byKind[k]]
  if (!top) return { byKind, listing, kind: null }
  const [kind, bytes] = top
  const label = GROWTH_KINDS.find(([k]) => k === kind)[1]
  const [a, b] = spans[kind]
  const d = (f) => (f(a) != null && f(b) != null ? f(b) - f(a) : null)
  let detail
  if (kind === 'jsHeap') {
    const used = d((p) => p.heapUsed)
    detail = `V8 heap resident ${mib(a.v8Heap)} → ${mib(b.v8Heap)}${used != null ? `, heap used ${signedMib(used)}` : ''}`
  } else if (kind === 'external') {
    const ab = d((p) => p.arrayBuffers)
    detail = `external ${mib(ext(a))} → ${mib(ext(b))}${ab != null ? `, of which ArrayBuffers ${signedMib(ab)}` : ''}`
  } else if (kind === 'native') {
    const anon = d((p) => anonOf(p) ?? p.rss)
    const heap = d((p) => p.v8Heap)
    const e = d(ext)
    detail = `anonymous memory ${anon != null ? signedMib(anon) : ''} while the V8 heap changed ${heap != null ? signedMib(heap) : ''} and external memory ${e != null ? signedMib(e) : '?'}`
    const m = d((p) => p.mallocInUse)
    if (m != null) {
      const free = d((p) => p.mallocFree)
      detail += `; malloc in use ${signedMib(m - (e ?? 0))} beyond external memory (mallinfo2), free-but-retained ${free != null ? signedMib(free) : '?'}`
    } else detail += '; no malloc figures at both ends (mallinfo2 unavailable or a recorder sample)'
  } else if (kind === 'fileBacked') detail = `RssFile ${mib(a.file)} → ${mib(b.file)}`
  else if (kind === 'sharedMemory') detail = `RssShmem ${mib(a.shmem)} → ${mib(b.shmem)}`
  else detail = `descendants' RSS ${mib(a.children)} → ${mib(b.children)}`
  return { byKind, listing, kind, label, bytes, from: a, to: b, detail }
}

/**
 * Anonymous memory that grew, with no V8 figures to split it (src/analysis/growth.rs): the
 * words for it, or null when it did not grow by GROWTH_MIN_BYTES (or native memory was told).
 */
function anonymousGrowth(points, f) {
  const anon = points.map(anonOf).filter((a) => a != null)
  if (!anon.length || anon.at(-1) - anon[0] < GROWTH_MIN_BYTES || 'native' in f.byKind) return null
  return `anonymous memory grew ${signedMib(anon.at(-1) - anon[0])} over ${points.length} points, but no V8 figures split it into JS heap, ArrayBuffers and native memory (the host never called observe() or dump()); kinds measured: ${f.listing}`
}

/** `analysis.growth` of a document (src/analysis/ `growth`). */
function growth(points) {
  const f = growthFinding(points)
  const { byKind } = f
  const none = (evidence) => ({
    kind: null,
    label: null,
    bytes: null,
    seconds: null,
    points: points.length,
    byKind,
    minBytes: GROWTH_MIN_BYTES,
    evidence,
    advice: null,
  })
  if (points.length < 2 || !Object.keys(byKind).length) return none(`${points.length} point(s) with figures: growth needs two`)
  if (!f.kind) {
    const anon = anonymousGrowth(points, f)
    if (anon !== null) return none(anon)
    return none(`nothing grew by ${mib(GROWTH_MIN_BYTES)} or more over ${points.length} points: ${f.listing}`)
  }
  const seconds = (f.to.epochMs - f.from.epochMs) / 1000
  return {
    kind: f.kind,
    label: f.label,
    bytes: f.bytes,
    seconds,
    points: points.length,
    byKind,
    minBytes: GROWTH_MIN_BYTES,
    evidence: `${f.label} grew ${signedMib(f.bytes)} over ${fixed(seconds, 1)} s (${points.length} points): ${f.detail} (all kinds: ${f.listing})`,
    advice: GROWTH_ADVICE[f.kind],
  }
}

/**
 * Risks and one recommendation from `f`, whose fields are those of `analysis::Facts` in
 * camelCase (each may be missing). tests/fixtures/golden/analysis.json holds what both
 * implementations must give.
 */
function analyze(f) {
  const T = CONTRACT.analysis.thresholds
  const known = (v) => typeof v === 'number' && Number.isFinite(v)
  const risks = []
  const add = (type, severity, message, evidence) => risks.push({ type, severity, message, evidence })
  const rank = { critical: 2, warning: 1, info: 0 }
  const max = (a, b) => (a && (!b || rank[a] >= rank[b]) ? a : b)
  if (known(f.heapUsed) && known(f.heapLimit) && f.heapLimit > 0) {
    const ratio = f.heapUsed / f.heapLimit
    const byUsed = ratio >= T.heapNearLimitCritical ? 'critical' : ratio >= T.heapNearLimitWarning ? 'warning' : null
    const avail = known(f.heapAvailable) ? f.heapAvailable / f.heapLimit : null
    const byAvail = avail === null ? null : avail <= T.heapAvailableCritical ? 'critical' : avail <= T.heapAvailableWarning ? 'warning' : null
    const sev = max(byUsed, byAvail)
    if (sev) {
      add(
        'heapNearLimit',
        sev,
        `JS heap at ${fixed(ratio * 100, 0)}% of V8's limit (${mib(f.heapUsed)} of ${mib(f.heapLimit)})${known(f.heapAvailable) ? `, ${mib(f.heapAvailable)} still available` : ''}`,
        { usedHeapSize: f.heapUsed, heapSizeLimit: f.heapLimit, ratio, ...(known(f.heapAvailable) && { totalAvailableSize: f.heapAvailable }) },
      )
    }
  }
  if (known(f.detachedContexts) && f.detachedContexts >= T.detachedContextsWarning) {
    const n = f.detachedContexts
    add('detachedContexts', 'warning', `${fixed(n, 0)} detached V8 context(s): a context (vm, iframe, worker realm) is kept alive after its use`, {
      numberOfDetachedContexts: n,
    })
  }
  if (known(f.rss) && known(f.heapTotal)) {
    const native = f.rss - f.heapTotal
    if (native >= T.nativeMinBytes && native >= T.nativeOverHeapRatio * f.heapTotal) {
      add('nativeMemoryHigh', 'warning', `${mib(native)} of RSS is outside the JS heap (${mib(f.heapTotal)} heap): Buffers, native addons or malloc`, {
        rss: f.rss,
        heapTotal: f.heapTotal,
        nativeBytes: native,
        ...(known(f.malloced) && { mallocedMemory: f.malloced }),
        ...(known(f.external) && { external: f.external }),
      })
    }
  }
  if (known(f.usageAgainstLimit) && known(f.effectiveLimit) && f.effectiveLimit > 0) {
    const [used, limit] = [f.usageAgainstLimit, f.effectiveLimit]
    const ratio = used / limit
    const sev = ratio >= T.rssNearLimitCritical ? 'critical' : ratio >= T.rssNearLimitWarning ? 'warning' : null
    if (sev) {
      add('rssNearLimit', sev, `memory use at ${fixed(ratio * 100, 0)}% of the limit that kills the process (${mib(used)} of ${mib(limit)})`, {
        usage: used,
        effectiveLimit: limit,
        ratio,
      })
    }
  }
  if (known(f.heapLimit) && known(f.effectiveLimit) && f.effectiveLimit > 0) {
    const ratio = f.heapLimit / f.effectiveLimit
    if (ratio >= T.heapLimitOverMemoryLimit) {
      const advised = Math.floor((f.effectiveLimit * T.advisedOldSpaceShare) / MIB)
      const whose = f.limitSource ?? 'effective'
      add(
        'heapLimitAboveMemoryLimit',
        'warning',
        `V8's heap limit (${mib(f.heapLimit)}) is ${fixed(ratio * 100, 0)}% of the ${mib(f.effectiveLimit)} ${whose} limit that ends the process: the heap alone may fill it, and V8 will not collect hard before the process is killed; run with --max-old-space-size=${fixed(advised, 0)} (${fixed(T.advisedOldSpaceShare * 100, 0)}% of the limit)`,
        { heapSizeLimit: f.heapLimit, effectiveLimit: f.effectiveLimit, ratio, advisedMaxOldSpaceSizeMiB: advised },
      )
    }
  }
  if (known(f.cgroupOomKills) && f.cgroupOomKills > 0) {
    add('cgroupOomKills', 'critical', `the kernel has already OOM-killed ${fixed(f.cgroupOomKills, 0)} process(es) in this cgroup`, {
      oomKill: f.cgroupOomKills,
    })
  }
  if (known(f.cgroupMaxEvents) && f.cgroupMaxEvents > 0) {
    add('cgroupLimitHit', 'warning', `the cgroup hit its memory limit ${fixed(f.cgroupMaxEvents, 0)} time(s) and had to reclaim`, {
      maxEvents: f.cgroupMaxEvents,
    })
  }
  const some = known(f.psiSomeAvg10) ? f.psiSomeAvg10 : null
  const full = known(f.psiFullAvg10) ? f.psiFullAvg10 : null
  const fullHit = full !== null && full >= T.psiFullAvg10Critical
  if (fullHit || (some !== null && some >= T.psiSomeAvg10Warning)) {
    add(
      'memoryPressureStall',
      fullHit ? 'critical' : 'warning',
      `tasks stalled waiting for memory ${fixed(some ?? 0, 1)}% of the last 10 s (all tasks at once: ${fixed(full ?? 0, 1)}%)`,
      { ...(some !== null && { someAvg10: some }), ...(full !== null && { fullAvg10: full }) },
    )
  }
  if (known(f.swapBytes) && f.swapBytes >= T.swapInUseBytes) {
    add('swapInUse', 'warning', `${mib(f.swapBytes)} of the process is swapped out; garbage collection will be slow`, { vmSwap: f.swapBytes })
  }
  if (known(f.threads) && f.threads >= T.manyThreads) {
    add('manyThreads', 'warning', `${fixed(f.threads, 0)} threads (Node normally runs about 10)`, { threads: f.threads })
  }
  if (known(f.openFds)) {
    const n = f.openFds
    const l = known(f.openFdsLimit) ? f.openFdsLimit : null
    const nearLimit = l !== null && l > 0 && n >= T.openFdsLimitRatio * l
    if (nearLimit || n >= T.openFdsHigh) {
      add(
        'openFdsHigh',
        'warning',
        nearLimit ? `${fixed(n, 0)} open file descriptors, ${fixed((n / l) * 100, 0)}% of the limit` : `${fixed(n, 0)} open file descriptors`,
        { openFds: n, ...(l !== null && { limit: l }) },
      )
    }
  }
  if (known(f.childrenRss) && known(f.rss) && f.childrenRss > f.rss && f.childrenRss > 0) {
    add('childProcessesHeavy', 'warning', `child processes hold ${mib(f.childrenRss)} against ${mib(f.rss)} for this process`, {
      descendantsRss: f.childrenRss,
      rss: f.rss,
    })
  }
  const grown = f.growthPoints && f.growthPoints.length ? growth(f.growthPoints) : null
  if (grown && grown.kind) {
    add('memoryGrowth', 'warning', grown.evidence, { grownBytes: grown.bytes, seconds: grown.seconds, ...grown.byKind })
  }
  // Never rated below the host's own word: a critical dump always has a critical risk.
  const hostSeverity = Object.hasOwn(CONTRACT.analysis.pressureTriggers, f.trigger) ? CONTRACT.analysis.pressureTriggers[f.trigger] : null
  if (hostSeverity && !risks.some((r) => rank[r.severity] >= rank[hostSeverity])) {
    const evidence = {}
    const seen = []
    if (known(f.heapUsed) && known(f.heapLimit) && f.heapLimit > 0) {
      evidence.heapUsedRatio = f.heapUsed / f.heapLimit
      seen.push(`JS heap at ${fixed((f.heapUsed / f.heapLimit) * 100, 0)}% of V8's limit`)
      if (known(f.heapAvailable)) {
        evidence.heapAvailableRatio = f.heapAvailable / f.heapLimit
        seen.push(`${fixed((f.heapAvailable / f.heapLimit) * 100, 0)}% still available`)
      }
    }
    if (known(f.usageAgainstLimit) && known(f.effectiveLimit) && f.effectiveLimit > 0) {
      evidence.usageRatio = f.usageAgainstLimit / f.effectiveLimit
      seen.push(`memory use at ${fixed((f.usageAgainstLimit / f.effectiveLimit) * 100, 0)}% of the limit`)
    }
    const figures = seen.length ? ` (${seen.join(', ')})` : ''
    // The package's own dumps (watchdog, pressure) are the package's word, never the host's.
    if (CONTRACT.analysis.packageTriggers.includes(f.trigger))
      add(
        'packageReportedPressure',
        hostSeverity,
        `the package's own ${f.trigger} rule wrote this dump (see ${f.trigger === 'pressure' ? 'nearLimit' : 'watchdog'}); no figure in this dump crossed a ${hostSeverity} threshold${figures}`,
        evidence,
      )
    else
      add(
        'hostReportedPressure',
        hostSeverity,
        `the host reported ${f.trigger} memory pressure; no figure in this dump crossed a ${hostSeverity} threshold${figures}`,
        evidence,
      )
  }
  // Most severe first; the rule order above breaks ties (a stable sort).
  risks.sort((a, b) => rank[b.severity] - rank[a.severity])
  // The advice of the most severe specific risk: the host's word only when it stands alone.
  const top = risks.find((r) => r.type !== 'hostReportedPressure' && r.type !== 'packageReportedPressure') ?? risks[0]
  const advice = CONTRACT.analysis.advice
  const recommendation =
    top?.type === 'memoryGrowth' && grown ? grown.advice : top && Object.hasOwn(advice, top.type) ? advice[top.type] : CONTRACT.analysis.noRiskAdvice
  return { risks, recommendation, ...(grown && { growth: grown }) }
}

module.exports = { analyze, anonymousGrowth, growth, growthFinding, GROWTH_ADVICE, GROWTH_MIN_BYTES, mib, signedMib }
