'use strict'
// The summary of each process: its dumps and samples, whether and why it died, what grew
// (lib/rules/analysis.js's rule) and which allocation sites grew.

const { fixed } = require('../../rules/format')
const os = require('node:os')
const path = require('node:path')
const { redactPlace, redactText } = require('../../rules/places')
const { endsInError } = require('../../rules/ending')
const { blockingFrame, isInternal, placeOf, shortScript } = require('../../rules/frames')
// The readers (and the schema they load) only for summarize(): previousRun() uses the rule
// below on what it read itself, and must load fast (lib/cli/inspect/previous-run.js).
const reader = () => require('./read')
const { DEATH_NEAR_LIMIT, LIMITS, MIB, arr, clean, iso, mib, nearHeapLimit, num, obj, timeOf, unexpected } = require('./values')

function dumpRow({ file, doc, valid, time }) {
  const at = obj(doc.atTrigger)
  // A pressure dump's V8 figures: those the JS thread added (jsFigures) when they are fresher
  // than the ones the recorder thread had (docs/schema.md).
  const js = obj(doc.jsFigures)
  const age = num(obj(doc.nearLimit).v8FiguresAgeMs)
  const fresher = num(js.delayMs) != null && (age == null || num(js.delayMs) < age)
  const h = obj(fresher ? js.v8HeapStats : at.v8HeapStats)
  const u = obj(fresher ? js.memoryUsage : at.memoryUsage)
  const status = obj(obj(doc.process).status)
  const cg = obj(doc.cgroup)
  const acc = doc.memoryAccounting && typeof doc.memoryAccounting === 'object' ? obj(doc.memoryAccounting) : null
  const m = obj(acc?.malloc)
  return {
    file,
    time: iso(time),
    epochMs: time,
    trigger: clean(doc.trigger, 20) || '?',
    dumpNumber: num(doc.dumpNumber),
    sessionId: clean(doc.sessionId, 20),
    heapUsed: num(h.usedHeapSize),
    heapLimit: num(h.heapSizeLimit),
    heapTotal: num(u.heapTotal) ?? num(h.totalHeapSize),
    rss: num(status.vmRss) ?? num(obj(obj(obj(doc.process).memory).resident).value) ?? num(u.rss),
    rssAnon: num(status.rssAnon),
    rssFile: num(status.rssFile),
    rssShmem: num(status.rssShmem),
    heapPhysical: num(h.totalPhysicalSize),
    external: num(u.external) ?? num(h.externalMemory),
    arrayBuffers: num(u.arrayBuffers),
    mallocInUse: num(m.inUseBytes),
    mallocFree: num(m.freeRetainedBytes),
    accounting: acc ? accountingText(acc) : null,
    effectiveLimit: num(obj(doc.memoryLimit).effectiveLimitBytes),
    limitSource: typeof doc.memoryLimit?.source === 'string' ? clean(doc.memoryLimit.source, 20) : null,
    cgroupPath: typeof cg.path === 'string' ? cg.path : null,
    cgroupUsage: num(cg.usage),
    cgroupLimit: num(cg.effectiveLimit) ?? num(cg.limit),
    cgroupOomKills: num(obj(cg.events).oomKill),
    descendantsRss: num(obj(doc.processTree).descendantsRssBytes),
    topRisks: arr(obj(doc.analysis).risks)
      .slice(0, 3)
      .map((r) => `${clean(obj(r).type, 30)} (${clean(obj(r).severity, 10)})`),
    complete: doc.collectionComplete === true,
    heapSnapshot: doc.heapSnapshot && typeof doc.heapSnapshot === 'object' ? heapSnapshotText(obj(doc.heapSnapshot)) : null,
    heapSnapshotStatus: doc.heapSnapshot && typeof doc.heapSnapshot === 'object' ? clean(obj(doc.heapSnapshot).status, 20) : null,
    allocation: allocationOf(doc.allocationProfile),
    stall: stallOf(doc),
    nearLimit: nearLimitOf(doc),
    valid,
    hostSamples: hostSamples(doc.samples),
  }
}

/**
 * A pressure dump's `nearLimit` (the recorder's own dump near the limit that kills the
 * process): its share of which limit, and why; null for any other dump.
 */
function nearLimitOf(doc) {
  if (doc.trigger !== 'pressure' || !doc.nearLimit || typeof doc.nearLimit !== 'object') return null
  const n = obj(doc.nearLimit)
  const share = num(n.share)
  const limit = num(n.limitBytes)
  const counted = num(n.countedBytes)
  // A share past 100 times the limit, a negative one, or a limit past 2^53 bytes is no reading.
  const bytes = (b) => b != null && b >= 0 && b <= Number.MAX_SAFE_INTEGER
  if (share == null || share < 0 || share > 100 || !bytes(limit) || limit <= 0 || (counted != null && !bytes(counted))) return { unreadable: true }
  return {
    share,
    limitBytes: limit,
    countedBytes: counted,
    source: typeof n.source === 'string' ? clean(n.source, 20) : 'effective',
    cause: typeof n.cause === 'string' ? clean(n.cause, 20) : null,
  }
}

/** "92% of the 256 MiB cgroup limit" */
function shareText(n) {
  return `${Math.floor(n.share * 100)}% of the ${mib(n.limitBytes)} ${n.source} limit`
}

/** A pressure dump in one line. */
function nearLimitText(n) {
  if (n.unreadable) return `#${n.dumpNumber ?? '?'} pressure at ${n.time}: its nearLimit figures are unreadable`
  const why = n.cause === 'stall' ? ', every task stalling on memory' : n.cause === 'growth' ? ', growing towards it' : ''
  return `#${n.dumpNumber ?? '?'} pressure at ${n.time}: the package's own dump at ${shareText(n)}${n.countedBytes != null ? ` (${mib(n.countedBytes)} counted${why})` : ''}`
}

/** The host's own samples in a dump (`dump(trigger, { samples })`), in one line. */
function hostSamples(samples) {
  const list = arr(samples).map(obj)
  if (!list.length) return null
  const [first, last] = [list[0], list.at(-1)]
  const keys = [...new Set(list.flatMap((x) => Object.keys(x)))].slice(0, 8)
  return `${list.length} host sample${list.length === 1 ? '' : 's'}: ${keys.map((k) => `${clean(k, 64)} ${num(first[k]) ?? '-'} → ${num(last[k]) ?? '-'}`).join(', ')}`
}

/** RSS as the dump's memoryAccounting splits it, in one line (parts unknown to it are left out). */
/** What the accounting split: RSS on Linux, private bytes on Windows, the footprint on macOS. */
function basisLabel(source) {
  if (typeof source !== 'string') return 'RSS'
  if (/PrivateUsage|PagefileUsage/.test(source)) return 'private bytes'
  if (source.includes('phys_footprint')) return 'footprint'
  return 'RSS'
}

function accountingText(acc) {
  const p = obj(acc.parts)
  const b = (k) => num(obj(p[k]).bytes)
  const parts = [
    ['JS heap', b('v8Heap') == null && b('v8Code') == null ? null : (b('v8Heap') ?? 0) + (b('v8Code') ?? 0)],
    ['ArrayBuffers', b('arrayBuffers')],
    ['other external', b('externalOther')],
    ['malloc', b('mallocOther')],
    ['malloc free-but-retained', b('mallocFree')],
    ['main stack', b('threadStacks')],
    ['file-backed', b('fileBacked')],
    ['shared memory', b('sharedMemory')],
  ]
    .filter(([, v]) => v != null)
    .map(([l, v]) => `${l} ${mib(v)}`)
  const un = num(acc.unexplainedBytes)
  const share = num(acc.unexplainedShare)
  const why = num(obj(acc.malloc).inUseBytes) == null ? ' (malloc not measured: it is in unexplained)' : ''
  return `${parts.join(', ')}, unexplained ${un == null ? '?' : mib(un)}${share != null ? ` (${fixed(share * 100, 1)}%)` : ''}${why} of ${mib(num(acc.rssBytes))} ${basisLabel(acc.rssSource)}; swap ${mib(num(acc.swapBytes))}`
}

/** One line on the heap snapshot that followed a dump (docs/heap-snapshots.md). */
function heapSnapshotText(h) {
  const need = num(h.neededBytes) != null ? ` (needed ~${mib(num(h.neededBytes))}, headroom ${mib(num(h.headroomBytes))})` : ''
  switch (h.status) {
    case 'written':
      return (
        `${clean(h.file, 120)}, ${mib(num(h.bytes))}, ${h.redacted === false ? 'NOT redacted: it holds every string in the heap' : 'string values redacted'}, ` +
        `the JS thread blocked ${Math.round(num(h.millis) ?? 0)} ms, peak extra memory ${mib(num(h.peakExtraBytes))}${need}`
      )
    case 'skipped':
      return `skipped: ${clean(h.skipped, 400)}`
    case 'pending':
      // Whether the snapshot's memory is what ended the process is for the verdict to say
      // (a rise in the cgroup's OOM kills): describeProcess adds it when it can.
      return `was being taken when the process ended (${clean(h.file, 120) || 'its file'} was never completed)${need}`
    default:
      return `failed: ${clean(h.error, 400) || 'unknown error'}`
  }
}

/** A recorder record as a chart point, every figure checked. */
function samplePoint(r) {
  return {
    epochMs: r.epochMs,
    rssBytes: num(r.rssBytes),
    heapUsedBytes: num(r.heapUsedBytes),
    heapTotalBytes: num(r.heapTotalBytes),
    heapLimitBytes: num(r.heapLimitBytes),
    heapPhysicalBytes: num(r.heapPhysicalBytes),
    externalBytes: num(r.externalBytes),
    arrayBuffersBytes: num(r.arrayBuffersBytes),
    rssAnonBytes: num(r.rssAnonBytes),
    rssFileBytes: num(r.rssFileBytes),
    rssShmemBytes: num(r.rssShmemBytes),
    childrenRssBytes: num(r.childrenRssBytes),
    cgroupUsageBytes: num(r.cgroupUsageBytes),
    cgroupLimitBytes: num(r.cgroupLimitBytes),
  }
}

function summarize(args) {
  const { RECORDER_NAME, UsageError, collect, groupByProcess, readDump, readRecorder, segments } = reader()
  const { files, notes } = collect(args)
  if (!files.length) throw new UsageError('no files given')
  const problems = []
  const recorderFiles = []
  const dumps = []
  // What this run may still read from files (entries a bundle gave were read within its own limits).
  const budget = { left: LIMITS.totalBytes, records: LIMITS.runRecords }
  for (const f of files) {
    if (f.error) {
      problems.push({ file: f.path, error: f.error, empty: f.empty })
      continue
    }
    try {
      const base = path.basename(f.path)
      if (RECORDER_NAME.test(base) || /\.jsonl(\.1)?$/.test(base)) {
        const r = readRecorder(f.path, f.text, budget)
        if (r.error) problems.push({ file: f.path, error: r.error })
        if (r.note) notes.push(`${f.path}: ${r.note}`)
        if (r.records) recorderFiles.push({ file: f.path, records: r.records, torn: r.torn })
        continue
      }
      const r = readDump(f.path, f.text, budget)
      if (r.error) problems.push({ file: f.path, error: r.error })
      if (r.doc) dumps.push({ file: f.path, doc: r.doc, valid: !r.error, time: timeOf(r.doc.timestamp) })
    } catch (e) {
      // The net under the net: whatever a file does, it is named and the rest is read.
      problems.push({ file: f.path, error: `could not be read (${unexpected(e)})` })
    }
  }
  const procs = groupByProcess(segments(recorderFiles), dumps)
  const torn = new Set(recorderFiles.filter((f) => f.torn).map((f) => f.file))
  const out = procs.map((p) => describeProcess(p, torn, dumps))
  out.sort((a, b) => (a.firstMs ?? 0) - (b.firstMs ?? 0) || (a.pid ?? 0) - (b.pid ?? 0))
  return { processes: out, problems, notes }
}

function describeProcess(p, torn, allDumps) {
  p.dumps.sort((a, b) => a.time - b.time)
  p.records.sort((a, b) => a.epochMs - b.epochMs)
  const rows = p.dumps.map(dumpRow)
  const samples = p.records.filter((r) => r.type === 'sample').map(samplePoint)
  const verdict = verdictOf(p, rows, samples, allDumps)
  verdict.growth = growth(samples, rows)
  verdict.growth.bySite = sitesGrowth(rows)
  // Where to look next: the code that grew, when the dumps' allocation sites name it (the
  // contract's advice for a kind says how to find it otherwise).
  const sites = verdict.growth.bySite?.groups
  const profiled = rows.filter((r) => r.allocation?.sites.length).at(-1)
  if (sites?.length)
    verdict.growth.advice = `the code that grew, by allocation site: ${sites.map((g) => `${g.blame.function} (${placeOf(g.blame)})`).join(', ')}; a heap snapshot (options.heapSnapshot) shows what keeps its objects alive.`
  else if (profiled && verdict.growth.key) {
    // One dump with sites (or sites that did not grow between two): what held the most live
    // bytes then, blamed as growth is (the first frame of the host's code up each path).
    const bytes = new Map()
    for (const site of profiled.allocation.sites) {
      const b = [site, ...site.path].find((f) => !isInternal(f)) ?? site
      const name = `${b.function} (${placeOf(b)})`
      bytes.set(name, (bytes.get(name) ?? 0) + site.liveBytes)
    }
    // The largest, and the next ones only with a tenth of the sampled bytes each.
    const total = [...bytes.values()].reduce((a, b) => a + b, 0)
    const top = [...bytes.entries()]
      .sort((a, b) => b[1] - a[1])
      .filter(([, n], i) => i === 0 || n >= total / 10)
      .slice(0, 3)
      .map(([name]) => name)
    verdict.growth.advice = `the code that held the most sampled live bytes in dump #${profiled.dumpNumber ?? '?'}: ${top.join(', ')} (two dumps with allocation sites say which of it grew); a heap snapshot (options.heapSnapshot) shows what keeps its objects alive.`
  }
  verdict.stalls = rows.filter((r) => r.stall).map((r) => ({ dumpNumber: r.dumpNumber, time: r.time, ...r.stall }))
  verdict.nearLimit = rows.filter((r) => r.nearLimit).map((r) => ({ dumpNumber: r.dumpNumber, time: r.time, ...r.nearLimit }))
  // A death after the package's own dump near the limit: the dump tells at what share of
  // which limit the process was, and a death with no other cause most likely came from it.
  const near = verdict.nearLimit.filter((n) => !n.unreadable).at(-1)
  if (near && verdict.outcome === 'crashed') {
    const after = `after a pressure dump (#${near.dumpNumber ?? '?'}) at ${shareText(near)}`
    if (verdict.cause && verdict.cause.kind === 'cgroupOomKill') verdict.cause = { ...verdict.cause, text: `${verdict.cause.text}, ${after}` }
    else if (!verdict.cause) verdict.cause = { kind: 'nearLimitKill', confirmed: false, text: `most likely killed at its memory limit, ${after}` }
  }
  // A snapshot left pending: the process ended while it was taken. Only a confirmed rise
  // in the cgroup's OOM kills ties the death to memory; nothing else says the snapshot did it.
  for (const r of rows) {
    if (r.heapSnapshotStatus !== 'pending') continue
    r.heapSnapshot +=
      verdict.outcome === 'crashed' && verdict.cause?.kind === 'cgroupOomKill' && verdict.cause.confirmed
        ? "; the kernel OOM-killed the process meanwhile (its cgroup's OOM kills rose), so the snapshot's memory may be what killed it"
        : verdict.outcome === 'crashed'
          ? '; nothing here shows that the snapshot caused the death'
          : ''
  }
  return {
    pid: p.pid,
    processStartMs: p.startMs == null ? null : Math.round(p.startMs),
    processStart: p.startMs == null ? null : iso(p.startMs),
    processStartEstimated: p.startMs != null && !p.startKnown,
    sessionIds: [...p.sessions].map((s) => clean(s, 20)),
    firstMs: p.first,
    dumps: rows,
    recorder: { files: [...p.recorderFiles].map((file) => ({ file, torn: torn.has(file) })), samples: samples.length },
    verdict,
    samples,
  }
}

/** Crashed, clean exit or unknown, from the process's own trail; with the likely cause of a death. */
function verdictOf(p, rows, samples, allDumps) {
  const last = p.records.at(-1)
  const lastDump = rows.at(-1)
  // A dumper garbage-collected, or ended with its worker thread: its recorder stopped while
  // the process went on, so the trail cannot tell how the process ended.
  if (last?.type === 'exit' && last.reason === 'released' && endOf(last) === null) {
    return {
      outcome: 'unknown',
      at: iso(last.epochMs),
      atMs: last.epochMs,
      evidence:
        "the recorder's exit record (released): the dumper was garbage-collected or its worker ended, and its recorder stopped there; how the process ended afterwards is unknown (keep the dumper referenced)",
      cause: null,
    }
  }
  if (last?.type === 'exit' && last.reason !== 'sessionReset') {
    const ended = endOf(last)
    const code = Number.isInteger(last.code) ? `, code ${last.code}` : ''
    const evidence = `the recorder's exit record (${typeof last.reason === 'string' ? clean(last.reason, 30) : 'its reason unreadable'}${code})`
    if (ended) return { outcome: 'crashed', at: iso(last.epochMs), atMs: last.epochMs, evidence, cause: ended }
    return { outcome: 'clean exit', at: iso(last.epochMs), atMs: last.epochMs, evidence, cause: null }
  }
  if (last?.type === 'exit') {
    return {
      outcome: 'unknown',
      at: iso(last.epochMs),
      atMs: last.epochMs,
      evidence: "the trail ends with a session reset and the next session's recorder file is not here",
      cause: null,
    }
  }
  if (last) {
    const lastSample = [...p.records].reverse().find((r) => r.type === 'sample')
    const at = lastSample ?? last
    return {
      outcome: 'crashed',
      at: iso(at.epochMs),
      atMs: at.epochMs,
      evidence: `the recorder has no exit record; its last ${lastSample ? 'sample' : 'record'} is the last sign of life`,
      cause: causeOfDeath(samples, rows, at.epochMs, allDumps),
    }
  }
  if (lastDump)
    return {
      outcome: 'unknown',
      at: lastDump.time,
      atMs: lastDump.epochMs,
      evidence: 'no recorder file; the dumps alone cannot tell a crash from a clean exit',
      cause: null,
    }
  return { outcome: 'unknown', at: null, atMs: null, evidence: 'nothing readable', cause: null }
}

/**
 * A death that the exit record tells (docs/schema.md): an uncaught exception or unhandled
 * rejection, with its class and the frame of the host's code it was thrown at, or a non-zero
 * exit code; null for an exit with code 0 (or a record written before codes were).
 */
function endOf(rec) {
  if (!endsInError(rec)) return null
  const how = typeof rec.how === 'string' ? rec.how : null
  if (how === 'uncaughtException' || how === 'unhandledRejection') {
    // Only a name that is an identifier's (as the writer keeps it): stripping other
    // characters would join what they separate.
    const named = typeof rec.errorClass === 'string' && /^[\p{L}\p{N}_$.]{1,100}$/u.test(rec.errorClass)
    const cls = named ? rec.errorClass : 'error'
    const at = rec.thrownAt && typeof rec.thrownAt === 'object' ? frameOf(rec.thrownAt) : null
    const where = at ? ` in ${at.function} (${placeOf(at)})` : ''
    return {
      kind: how,
      confirmed: true,
      text: `${how === 'uncaughtException' ? 'uncaught' : 'unhandled rejection:'} ${cls}${where}`,
      errorClass: cls,
      thrownAt: at,
    }
  }
  const by = how === 'processExit' ? ' (process.exit)' : how === 'loopEnded' ? ' (process.exitCode)' : ''
  return { kind: 'exitCode', confirmed: true, text: `exited with code ${rec.code}${by}`, code: rec.code }
}

/** What most likely killed the process, from its last figures and the cgroup's OOM-kill count. */
function causeOfDeath(samples, rows, diedMs, allDumps) {
  const lastOf = (key) => [...samples].reverse().find((s) => s[key] != null)
  // Confirmed: a later dump from the same cgroup counts more OOM kills than this process saw.
  const mine = rows.filter((r) => r.cgroupPath != null)
  const cgPath = mine.at(-1)?.cgroupPath
  if (cgPath != null) {
    const before = mine.at(-1).cgroupOomKills ?? 0
    const later = allDumps
      .filter((d) => d.time > diedMs && obj(d.doc.cgroup).path === cgPath)
      .map((d) => ({ file: d.file, kills: num(obj(obj(d.doc.cgroup).events).oomKill) }))
      .find((d) => d.kills != null && d.kills > before)
    if (later) {
      return {
        kind: 'cgroupOomKill',
        confirmed: true,
        text: `the kernel OOM-killed it: its cgroup's OOM kills went from ${before} to ${later.kills} (${path.basename(later.file)})`,
      }
    }
  }
  const cg = lastOf('cgroupLimitBytes')
  if (cg && cg.cgroupUsageBytes != null && cg.cgroupLimitBytes > 0 && cg.cgroupUsageBytes >= DEATH_NEAR_LIMIT * cg.cgroupLimitBytes) {
    return {
      kind: 'cgroupOomKill',
      confirmed: false,
      text: `most likely the kernel OOM killer: cgroup usage ${mib(cg.cgroupUsageBytes)} of its ${mib(cg.cgroupLimitBytes)} limit at the last sample`,
    }
  }
  const heap = lastOf('heapUsedBytes')
  if (heap && heap.heapLimitBytes > 0 && nearHeapLimit(heap.heapUsedBytes, heap.heapLimitBytes)) {
    return {
      kind: 'v8HeapOom',
      confirmed: false,
      text: `most likely V8 heap out of memory: JS heap used ${mib(heap.heapUsedBytes)} of its ${mib(heap.heapLimitBytes)} limit at the last sample`,
    }
  }
  const d = rows.at(-1)
  if (d && d.cgroupLimit && d.cgroupUsage != null && d.cgroupUsage >= DEATH_NEAR_LIMIT * d.cgroupLimit) {
    return {
      kind: 'cgroupOomKill',
      confirmed: false,
      text: `most likely the kernel OOM killer: cgroup usage ${mib(d.cgroupUsage)} of ${mib(d.cgroupLimit)} at the last dump`,
    }
  }
  return null
}

const { GROWTH_ADVICE, GROWTH_MIN_BYTES, anonymousGrowth, growthFinding } = require('../../rules/analysis')

/** A growth point from a recorder sample. */
const fromSample = (s) => ({
  epochMs: s.epochMs,
  what: 'sample',
  rss: s.rssBytes,
  anon: s.rssAnonBytes,
  file: s.rssFileBytes,
  shmem: s.rssShmemBytes,
  v8Heap: s.heapPhysicalBytes ?? s.heapTotalBytes,
  heapUsed: s.heapUsedBytes,
  external: s.externalBytes,
  arrayBuffers: s.arrayBuffersBytes,
  children: s.childrenRssBytes,
})
/** A growth point from a dump (its memoryAccounting when it has one, else its raw figures). */
const fromDump = (r) => ({
  epochMs: r.epochMs,
  what: `dump #${r.dumpNumber ?? '?'}`,
  rss: r.rss,
  anon: r.rssAnon,
  file: r.rssFile,
  shmem: r.rssShmem,
  v8Heap: r.heapPhysical ?? r.heapTotal,
  heapUsed: r.heapUsed,
  external: r.external,
  arrayBuffers: r.arrayBuffers,
  mallocInUse: r.mallocInUse,
  mallocFree: r.mallocFree,
  children: r.descendantsRss,
})
/**
 * The kind of memory that grew most, from the first to the last point (recorder samples and
 * dumps together) that has it, and at least GROWTH_MIN_BYTES: the documents' rule
 * (lib/rules/analysis.js, the twin of src/analysis/), with the span named by its dumps and samples.
 */
function growth(samples, rows) {
  const points = [...samples.map(fromSample), ...rows.filter((r) => r.epochMs != null).map(fromDump)].sort((a, b) => a.epochMs - b.epochMs)
  const f = growthFinding(points)
  const { byKind } = f
  const nSamples = samples.length
  const nDumps = rows.length
  if (!Object.keys(byKind).length) {
    return {
      kind: null,
      key: null,
      bytes: null,
      byKind,
      advice: null,
      evidence: `${nDumps ? (nDumps === 1 ? 'one dump' : `${nDumps} dumps`) : 'no dump'} and ${nSamples ? (nSamples === 1 ? 'one recorder sample' : `${nSamples} recorder samples`) : 'no recorder samples'}: growth needs two points`,
    }
  }
  const over = (a, b) => `${a.what} → ${b.what}, ${fixed((b.epochMs - a.epochMs) / 1000, 1)} s`
  if (!f.kind) {
    // The documents' words when anonymous memory grew with no V8 figures to split it.
    const unsplit = anonymousGrowth(points, f)
    return {
      kind: null,
      key: null,
      bytes: null,
      byKind,
      advice: null,
      unsplit: unsplit !== null,
      evidence: `${unsplit ?? `nothing grew by ${mib(GROWTH_MIN_BYTES)} or more: ${f.listing}`}; ${over(points[0], points.at(-1))}`,
    }
  }
  return {
    kind: f.label,
    key: f.kind,
    bytes: f.bytes,
    byKind,
    advice: GROWTH_ADVICE[f.kind],
    evidence: `+${mib(f.bytes)}: ${f.detail}, ${over(f.from, f.to)}; all kinds: ${f.listing}`,
  }
}

const signed = (b) => (b >= 0 ? `+${mib(b)}` : mib(b))

// ---- allocation sites (docs/allocation-profiles.md) -------------------------------------------

/** Growth of sampled live bytes smaller than this, all sites together, names no site. */
const SITE_GROWTH_MIN_BYTES = MIB

/**
 * A frame as inspect shows it: its script through the place rule (lib/rules/places.js) whatever
 * wrote the dump, so an older version's dump prints no query, credentials or `data:` content.
 */
const frameOf = (f) => ({
  function: clean(redactText(typeof obj(f).function === 'string' ? obj(f).function : '', os.homedir()), 120) || '(anonymous)',
  script: clean(redactPlace(typeof obj(f).script === 'string' ? obj(f).script : '', os.homedir()), 200) || '',
  line: num(obj(f).line),
  column: num(obj(f).column),
})
/** A script as a short name: Node's own and `data:`/`blob:` places whole, a path by its file name. */

/** A dump's allocation profile, every value checked; null without a taken one. */
function allocationOf(ap) {
  if (!ap || typeof ap !== 'object' || ap.status !== 'taken' || !Array.isArray(ap.sites)) return null
  const sites = []
  for (const s of ap.sites.slice(0, 50)) {
    if (!s || typeof s !== 'object') continue
    sites.push({ ...frameOf(s), liveBytes: num(s.liveBytes) ?? 0, path: Array.isArray(s.path) ? s.path.slice(0, 8).map(frameOf) : [] })
  }
  return { totalSampledBytes: num(ap.totalSampledBytes), sites }
}

/**
 * A watchdog dump's stall: how long the loop was silent and, with `watchdog.captureStack`,
 * the main thread's stack then. The blocking function is the innermost frame of the host's
 * own code (Node's frames are where it was called from or what it called).
 */
function stallOf(doc) {
  if (doc.trigger !== 'watchdog' || !doc.watchdog || typeof doc.watchdog !== 'object') return null
  const w = obj(doc.watchdog)
  const st = w.stack && typeof w.stack === 'object' ? obj(w.stack) : null
  const frames = st && Array.isArray(st.frames) ? st.frames.slice(0, 32).map(frameOf) : []
  return {
    stalledMs: num(w.stalledMs),
    stack: st ? clean(st.status, 20) || 'of no readable status' : 'not asked',
    reason: st?.reason == null ? null : clean(st.reason, 400),
    blocking: blockingFrame(frames),
    frames,
  }
}

/** "blocked ≥ 412 ms in pollUntilReady (app.js:17:3) ← main (app.js:43:63)" */
function stallText(s) {
  const at = (f) => `${f.function} (${placeOf(f)}${f.column != null && f.line != null ? `:${f.column}` : ''})`
  const head = `#${s.dumpNumber ?? '?'} watchdog at ${s.time}: the event loop was blocked ≥ ${s.stalledMs ?? '?'} ms`
  if (s.blocking) {
    const i = s.frames.indexOf(s.blocking)
    const callers = s.frames
      .slice(i + 1)
      .filter((f) => !isInternal(f) && f.function !== s.blocking.function)
      .slice(0, 2)
    return `${head} in ${at(s.blocking)}${callers.map((f) => ` ← ${at(f)}`).join('')}`
  }
  if (s.stack === 'not asked') return `${head} (no stack: watchdog.captureStack was off)`
  return `${head}; the stack was ${s.stack}${s.reason ? ` (${s.reason})` : ''}`
}

/** A call path's identity across profiles: the site and its callers. */
const siteKey = (s) => [s, ...s.path].map((f) => `${f.function}@${f.script}:${f.line}:${f.column}`).join('<')

/**
 * Which code grew, between the first and the last dump of a process that carry allocation
 * profiles: the growth of each call path's sampled live bytes (a path missing from the first
 * profile counts from zero), grouped by the first frame up the path that is not Node's own
 * code. V8 may inline a short function into its caller, so the blame is what the path says,
 * not only the allocating frame.
 */
function sitesGrowth(rows) {
  const profiled = rows.filter((r) => r.allocation)
  if (profiled.length < 2) return null
  const [a, b] = [profiled[0], profiled.at(-1)]
  const before = new Map(a.allocation.sites.map((s) => [siteKey(s), s.liveBytes]))
  let total = 0
  const groups = new Map()
  for (const s of b.allocation.sites) {
    const delta = s.liveBytes - (before.get(siteKey(s)) ?? 0)
    if (delta <= 0) continue
    total += delta
    const blame = [s, ...s.path].find((f) => !isInternal(f)) ?? s
    const key = `${blame.function}@${blame.script}:${blame.line}`
    const g = groups.get(key) ?? { blame, bytes: 0, leaves: new Map() }
    g.bytes += delta
    const leaf = JSON.stringify([s.function, s.script === '' ? 'V8 built-in' : shortScript(s.script)])
    g.leaves.set(leaf, (g.leaves.get(leaf) ?? 0) + delta)
    groups.set(key, g)
  }
  if (total < SITE_GROWTH_MIN_BYTES) return null
  // The three largest, and none under 1% of the growth.
  const top = [...groups.values()]
    .sort((x, y) => y.bytes - x.bytes)
    .filter((g, i) => i === 0 || g.bytes >= total / 100)
    .slice(0, 3)
  return {
    fromDump: a.dumpNumber,
    toDump: b.dumpNumber,
    bytes: total,
    groups: top.map((g) => ({
      share: Math.round((g.bytes / total) * 1e4) / 1e4,
      bytes: g.bytes,
      blame: g.blame,
      // The allocating functions, most bytes first: [function, script].
      allocating: [...g.leaves.entries()].sort((x, y) => y[1] - x[1]).map(([k]) => JSON.parse(k)),
      // Of the group's growth, the share the blamed function allocated itself (0 when all of it
      // was allocated on its behalf by functions it called).
      itself:
        Math.round(
          ((g.leaves.get(JSON.stringify([g.blame.function, g.blame.script === '' ? 'V8 built-in' : shortScript(g.blame.script)])) ?? 0) / g.bytes) * 100,
        ) / 100,
    })),
  }
}

/**
 * "68% PerformanceMeasure / PerformanceMark (node:internal/perf/usertiming) ← renderFrame (app.js:12)",
 * or, when the blamed function allocated a share itself, "100% rememberTurn (child.mjs:69):
 * itself 93%, repeat (V8 built-in)".
 */
function siteGroupText(g) {
  const blame = `${g.blame.function} (${placeOf(g.blame)})`
  // The functions that allocated on the blamed one's behalf, by script, most bytes first.
  const byScript = new Map()
  for (const [fn, script] of g.allocating.slice(0, 4)) {
    if (fn === g.blame.function && script === shortScript(g.blame.script)) continue
    byScript.set(script, [...(byScript.get(script) ?? []), fn])
  }
  const pct = `${Math.round(g.share * 100)}%`
  if (byScript.size === 0) return `${pct} ${blame}`
  const names = [...byScript.entries()].map(([script, fns]) => `${fns.join(' / ')} (${script})`).join(', ')
  if (g.itself > 0) return `${pct} ${blame}: itself ${Math.round(g.itself * 100)}%, ${names}`
  return `${pct} ${names} ← ${blame}`
}

module.exports = { GROWTH_MIN_BYTES, describeProcess, nearLimitText, shareText, signed, siteGroupText, stallText, summarize }
