'use strict'
// Twin of src/dump/facts.rs.
// The figures the analysis reads, taken from a written document, checked against
// tests/fixtures/golden/facts.json (written by cargo test). The fallback analyses its own
// phase-2 document through it.

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null)
const at = (doc, path) => path.reduce((v, k) => (v != null && typeof v === 'object' ? v[k] : undefined), doc)
const n = (doc, path) => num(at(doc, path))
const maxOpt = (a, b) => (a != null && b != null ? Math.max(a, b) : (a ?? b))
const LIMIT_SOURCES = ['cgroup', 'job', 'commit', 'physical']
const TRIGGERS = ['hard', 'critical', 'manual', 'watchdog', 'pressure']

/** Facts from a document (growth points are the caller's), every key present, null when unknown. */
function factsFromDocument(doc) {
  const heap = (k) => n(doc, ['atTrigger', 'v8HeapStats', k])
  const usage = (k) => n(doc, ['atTrigger', 'memoryUsage', k])
  const pressure = (kind) => maxOpt(n(doc, ['pressure', kind, 'avg10']), n(doc, ['cgroup', 'pressure', kind, 'avg10']))
  const job = (k) => n(doc, ['jobObject', k])
  const enforced = at(doc, ['system', 'memoryDetail', 'commitLimit', 'source']) === 'GlobalMemoryStatusEx:ullTotalPageFile'
  const commit = (k) => (enforced ? n(doc, ['system', 'memoryDetail', k, 'value']) : null)
  const [commitTotal, commitLimit] =
    commit('commitTotal') != null && commit('commitLimit') != null ? [commit('commitTotal'), commit('commitLimit')] : [null, null]
  const [pl, jl] = [job('processMemoryLimitBytes'), job('jobMemoryLimitBytes')]
  const processes = at(doc, ['processTree', 'processes'])
  const source = at(doc, ['memoryLimit', 'source'])
  const trigger = at(doc, ['trigger'])
  return {
    heapUsed: heap('usedHeapSize'),
    heapLimit: heap('heapSizeLimit'),
    heapAvailable: heap('totalAvailableSize'),
    heapTotal: usage('heapTotal') ?? heap('totalHeapSize'),
    detachedContexts: heap('numberOfDetachedContexts'),
    malloced: heap('mallocedMemory'),
    external: usage('external'),
    rss: n(doc, ['process', 'status', 'vmRss']) ?? (Array.isArray(processes) ? n(processes, [0, 'rssBytes']) : null) ?? usage('rss'),
    effectiveLimit: n(doc, ['memoryLimit', 'effectiveLimitBytes']),
    usageAgainstLimit: n(doc, ['memoryLimit', 'usageBytes']),
    cgroupOomKills: n(doc, ['cgroup', 'events', 'oomKill']),
    cgroupMaxEvents: n(doc, ['cgroup', 'events', 'max']),
    psiSomeAvg10: pressure('some'),
    psiFullAvg10: pressure('full'),
    swapBytes: n(doc, ['process', 'status', 'vmSwap']),
    threads: n(doc, ['process', 'status', 'threads']),
    openFds: n(doc, ['process', 'openFds']),
    openFdsLimit: n(doc, ['process', 'openFdsLimit']),
    childrenRss: n(doc, ['processTree', 'descendantsRssBytes']),
    limitSource: LIMIT_SOURCES.includes(source) ? source : null,
    commitTotal,
    commitLimit,
    jobLimit: pl != null && jl != null ? Math.min(pl, jl) : (pl ?? jl),
    jobUsage: n(doc, ['process', 'memory', 'commit', 'value']),
    trigger: TRIGGERS.includes(trigger) ? trigger : null,
  }
}

module.exports = { factsFromDocument }
