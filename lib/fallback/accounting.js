'use strict'
// Twin of src/analysis/accounting.rs.
// The memory accounting of a dump and its growth point.

const CODE_SPACES = ['code_space', 'code_large_object_space']
const MALLOC_UNAVAILABLE = 'unavailable in the js implementation: mallinfo2 needs the native addon'
const ACCOUNTING_PARTS = ['v8Heap', 'v8Code', 'arrayBuffers', 'externalOther', 'mallocOther', 'mallocFree', 'threadStacks', 'fileBacked', 'sharedMemory']
const bytesOf = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : null)
const known = (bytes, source) => ({ bytes, source })
const unknown = (reason) => ({ bytes: null, source: null, reason })

/** memoryAccounting: the parts of RSS and what no figure explains (they add up exactly). */
function accounting(status, at) {
  const h = at.v8HeapStats
  const u = at.memoryUsage
  const vmRss = bytesOf(status?.vmRss)
  const rss = vmRss ?? bytesOf(u.rss)
  const rssSource = vmRss != null ? 'status:VmRSS' : rss != null ? 'memoryUsage.rss' : null
  const spaces = Array.isArray(at.v8HeapSpaces) ? at.v8HeapSpaces.map((s) => ({ name: s.spaceName, physicalBytes: bytesOf(s.physicalSpaceSize) })) : null
  const code = spaces && spaces.filter((s) => CODE_SPACES.includes(s.name)).reduce((t, s) => t + (s.physicalBytes ?? 0), 0)
  const physical = bytesOf(h.totalPhysicalSize)
  const heapTotal = bytesOf(u.heapTotal)
  let v8Heap, v8Code
  if (physical != null && code != null) {
    v8Heap = known(Math.max(0, physical - code), 'heapStatistics.totalPhysicalSize-codeSpaces')
    v8Code = known(Math.min(code, physical), 'heapSpaces.physicalSpaceSize')
  } else if (physical != null) {
    v8Heap = known(physical, 'heapStatistics.totalPhysicalSize')
    v8Code = unknown('the host passed no heapSpaces: code is counted in v8Heap')
  } else if (heapTotal != null) {
    v8Heap = known(heapTotal, 'memoryUsage.heapTotal')
    v8Code = unknown('no totalPhysicalSize: code is counted in v8Heap')
  } else {
    v8Heap = unknown('the host passed neither heapStatistics.totalPhysicalSize nor memoryUsage.heapTotal')
    v8Code = unknown('no V8 heap figures')
  }
  const ab = bytesOf(u.arrayBuffers)
  const ext = bytesOf(u.external) ?? bytesOf(h.externalMemory)
  const fromStatus = (v, src) =>
    v != null ? known(v, src) : status ? unknown(`${src} is not in /proc/self/status`) : unknown('/proc/self/status was not read')
  const parts = {
    v8Heap,
    v8Code,
    arrayBuffers: ab != null ? known(ab, 'memoryUsage.arrayBuffers') : unknown('the host passed no memoryUsage.arrayBuffers'),
    externalOther: ext != null ? known(Math.max(0, ext - (ab ?? 0)), 'memoryUsage.external-arrayBuffers') : unknown('the host passed no memoryUsage.external'),
    mallocOther: unknown(MALLOC_UNAVAILABLE),
    mallocFree: unknown(MALLOC_UNAVAILABLE),
    threadStacks: fromStatus(bytesOf(status?.vmStk), 'status:VmStk'),
    fileBacked: fromStatus(bytesOf(status?.rssFile), 'status:RssFile'),
    sharedMemory: fromStatus(bytesOf(status?.rssShmem), 'status:RssShmem'),
  }
  const sum = ACCOUNTING_PARTS.reduce((t, k) => t + (parts[k].bytes ?? 0), 0)
  const unexplained = rss == null ? null : rss - sum
  return {
    rssBytes: rss,
    rssSource,
    anonBytes: bytesOf(status?.rssAnon),
    parts,
    unexplainedBytes: unexplained,
    unexplainedShare: unexplained != null && rss > 0 ? Math.round((unexplained / rss) * 1e4) / 1e4 : null,
    swapBytes: bytesOf(status?.vmSwap),
    v8Spaces: spaces,
    malloc: { source: null, reason: MALLOC_UNAVAILABLE },
    children: null,
  }
}

/** This dump's point for growth attribution (as src/dump/enrich.rs dump_point). */
function growthPoint(epochMs, acc, at) {
  const h = at.v8HeapStats
  const u = at.memoryUsage
  return {
    epochMs,
    rss: acc.rssBytes,
    anon: acc.anonBytes,
    file: acc.parts.fileBacked.bytes,
    shmem: acc.parts.sharedMemory.bytes,
    v8Heap: h.totalPhysicalSize ?? u.heapTotal ?? null,
    heapUsed: h.usedHeapSize ?? u.heapUsed ?? null,
    external: u.external ?? h.externalMemory ?? null,
    arrayBuffers: u.arrayBuffers ?? null,
    mallocInUse: null,
    mallocFree: null,
    children: null,
  }
}

// The growth kinds, their advice and the minimum come from the crate (contract.json).

module.exports = { accounting, growthPoint }
