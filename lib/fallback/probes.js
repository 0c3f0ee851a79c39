'use strict'
// Twin of src/probes/.
// The JS fallback's phase-2 probes: procfs and meminfo read with fs (the native addon reads
// them off the JS thread; here they cost the libuv threadpool). Field names as src/probes.

const fs = require('node:fs')
// Loaded with this file, never by a dump (a dump may come when no descriptor is left).
const { startMsOf } = require('../rules/process-start')
const os = require('node:os')

const { fixed } = require('../rules/format')

const STATUS_KEYS = {
  VmPeak: 'vmPeak',
  VmSize: 'vmSize',
  VmHWM: 'vmHwm',
  VmRSS: 'vmRss',
  RssAnon: 'rssAnon',
  RssFile: 'rssFile',
  RssShmem: 'rssShmem',
  VmData: 'vmData',
  VmStk: 'vmStk',
  VmExe: 'vmExe',
  VmLib: 'vmLib',
  VmPTE: 'vmPte',
  VmSwap: 'vmSwap',
  Threads: 'threads',
  voluntary_ctxt_switches: 'voluntaryCtxtSwitches',
  nonvoluntary_ctxt_switches: 'nonvoluntaryCtxtSwitches',
}
const MEMINFO_KEYS = {
  Buffers: 'buffers',
  Cached: 'cached',
  Shmem: 'shmem',
  SReclaimable: 'sReclaimable',
  Dirty: 'dirty',
  CommitLimit: 'commitLimit',
  Committed_AS: 'committedAs',
}

const U64_MAX = 18446744073709551615n
/** A count as procfs writes it: decimal digits only, at most 2^64 - 1 (src/probes/procfs.rs parse_digits). */
function digits(s) {
  if (typeof s !== 'string' || !/^\d+$/.test(s) || BigInt(s) > U64_MAX) return null
  return Number(s)
}

/** `"  123 kB"` → 125952 bytes; `"  7"` → 7 (src/probes/procfs.rs parse_quantity). */
function quantity(v) {
  const p = v.trim().split(/\s+/)
  const n = digits(p[0])
  if (n === null) return null
  if (p.length === 1) return n
  if (p.length === 2 && p[1] === 'kB') return BigInt(p[0]) * 1024n > U64_MAX ? null : n * 1024
  return null
}

/** Every `Key: value` line whose key `keys` names (and only those: never a prototype's). */
function keyed(text, keys) {
  const out = Object.fromEntries(Object.values(keys).map((k) => [k, null]))
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    const key = line.slice(0, i)
    if (i > 0 && Object.hasOwn(keys, key)) out[keys[key]] = quantity(line.slice(i + 1))
  }
  return out
}

/** `/proc/self/status` (src/probes/procfs.rs parse_status). */
function parseStatus(text) {
  return keyed(text, STATUS_KEYS)
}

function camel(key) {
  if (/^[A-Z]+$/.test(key)) return key.toLowerCase()
  return key[0].toLowerCase() + key.slice(1).replace(/_(.)/g, (_, c) => c.toUpperCase())
}

const mibText = (b) => `${fixed(b / (1024 * 1024), 1)} MiB`

/** Whether phase 2 reads smaps_rollup (null) or why not (as src/probes/rss_split.rs). */
function smapsRollupSkipReason(policy, rss) {
  if (policy.mode === 'always') return null
  if (policy.mode === 'never') return "not read: options.smapsRollup is 'never'"
  if (rss === null || rss === undefined) {
    return 'not read: the resident size is unknown (status and statm unreadable), so the cost of the page-table walk cannot be bounded'
  }
  if (rss < policy.maxRssBytes) return null
  return (
    `not read: the resident size (${mibText(rss)}) is at or above options.smapsRollupMaxRssBytes (${mibText(policy.maxRssBytes)}); ` +
    'producing smaps_rollup makes the kernel walk every page-table entry of the process under the memory-map lock the garbage collector needs ' +
    "(smapsRollup: 'always' reads it anyway)"
  )
}

/** process.rssSplit: each figure from the first source that has it (as src/probes/rss_split.rs). */
function rssSplit(status, statm, smaps, skipped) {
  const first = (...candidates) => {
    for (const [bytes, source] of candidates) if (bytes !== null && bytes !== undefined) return { bytes, source }
    return { bytes: null, source: null }
  }
  const fromSmaps = (v, source) => (skipped && (v === null || v === undefined) ? { bytes: null, source: null, skipped } : first([v, source]))
  return {
    rss: first([status?.vmRss, 'status:VmRSS'], [statm?.resident, 'statm:resident']),
    anon: first([status?.rssAnon, 'status:RssAnon'], [statm && Math.max(0, statm.resident - statm.shared), 'statm:resident-shared']),
    file: first([status?.rssFile, 'status:RssFile'], [statm?.shared, 'statm:shared']),
    shmem: first([status?.rssShmem, 'status:RssShmem']),
    swap: first([status?.vmSwap, 'status:VmSwap'], [smaps?.swap, 'smaps_rollup:Swap']),
    pss: fromSmaps(smaps?.pss, 'smaps_rollup:Pss'),
    swapPss: fromSmaps(smaps?.swapPss, 'smaps_rollup:SwapPss'),
  }
}

/** statm counts pages; Node has no sysconf, so the page size comes from VmRSS when it can. */
function parseStatm(text, vmRss) {
  const f = text.trim().split(/\s+/)
  const names = ['size', 'resident', 'shared']
  const pages = names.map((name, i) => {
    if (f[i] === undefined) throw new Error(`statm: ${name} missing`)
    if (!/^\d+$/.test(f[i])) throw new Error(`statm: ${name} is not a number`)
    return Number(f[i])
  })
  let page = 4096
  if (vmRss > 0 && pages[1] > 0) page = 2 ** Math.round(Math.log2(vmRss / pages[1]))
  return { size: pages[0] * page, resident: pages[1] * page, shared: pages[2] * page }
}

/** `/proc/self/stat`, fields counted from the last `)` (src/probes/procfs.rs parse_stat). */
function parseStat(text) {
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  if (open < 0) throw new Error("stat: no '(' before the command name")
  if (close < 0) throw new Error("stat: no ')' after the command name")
  if (close < open) throw new Error('stat: malformed command name')
  const pid = digits(text.slice(0, open).trim())
  if (pid === null || pid > 0xffffffff) throw new Error('stat: malformed pid')
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/)
  const field = (n) => {
    if (rest[n - 3] === undefined) throw new Error(`stat: field ${n} missing`)
    const v = digits(rest[n - 3])
    if (v === null) throw new Error(`stat: field ${n} is not a number`)
    return v
  }
  const ppid = field(4)
  const minflt = field(10)
  const majflt = field(12)
  field(20)
  const starttime = field(22)
  field(24)
  return { ppid, minflt, majflt, starttime }
}

/** A PSI average as Rust's f64 parser reads it (a sign, digits, a point, an exponent). */
const PSI_AVG = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/

/** A PSI file (src/probes/pressure.rs parse_psi): each line needs all four figures. */
function parsePsi(text) {
  const out = { some: null, full: null }
  for (const line of text.split('\n')) {
    const [kind, ...kv] = line.trim().split(/\s+/)
    if (kind !== 'some' && kind !== 'full') continue
    const o = {}
    for (const p of kv) {
      const i = p.indexOf('=')
      if (i < 0) continue
      const k = p.slice(0, i)
      const v = p.slice(i + 1)
      if (k === 'avg10' || k === 'avg60' || k === 'avg300') {
        if (!PSI_AVG.test(v)) throw new Error(`malformed PSI value ${JSON.stringify(p)}`)
        o[k] = Number(v)
      } else if (k === 'total') {
        o.total = digits(v)
        if (o.total === null) throw new Error(`malformed PSI value ${JSON.stringify(p)}`)
      }
    }
    if (![o.avg10, o.avg60, o.avg300].every((x) => Number.isFinite(x) && x >= 0) || o.total === undefined) {
      throw new Error(`malformed PSI line ${JSON.stringify(line)}`)
    }
    out[kind] = { avg10: o.avg10, avg60: o.avg60, avg300: o.avg300, totalMicros: o.total }
  }
  if (!out.some) throw new Error("no 'some' line in PSI data")
  return out
}

// process.memory and system.memoryDetail: the same fields as the native addon, each with its
// source or why it is unavailable (src/probes/platform.rs). The JS implementation reads the
// Linux figures only; the Windows and macOS calls are native-only.
const figure = (value, source, missing) => (value != null ? { value, source } : { value: null, source: null, unavailable: missing })
const notOn = (what) => `unavailable on ${process.platform}: ${what}`
const NATIVE_ONLY = 'unavailable in the js implementation (the native addon reads it)'
function processMemory(p) {
  const linux = process.platform === 'linux'
  const st = p.status
  const missing = !linux ? NATIVE_ONLY : st ? 'not in /proc/self/status' : '/proc/self/status was not read'
  const win = notOn('a Windows figure (GetProcessMemoryInfo)')
  const mac = notOn('a macOS figure (task_info TASK_VM_INFO)')
  return {
    resident: figure(st?.vmRss, 'status:VmRSS', missing),
    peakResident: figure(st?.vmHwm, 'status:VmHWM', missing),
    private: figure(st?.rssAnon, 'status:RssAnon', missing),
    commit: figure(null, null, linux ? notOn('the kernel charges no per-process commit (system.memoryDetail has Committed_AS)') : NATIVE_ONLY),
    peakCommit: figure(null, null, linux ? win : NATIVE_ONLY),
    pagefile: figure(null, null, linux ? win : NATIVE_ONLY),
    footprint: figure(null, null, linux ? mac : NATIVE_ONLY),
    compressed: figure(null, null, linux ? mac : NATIVE_ONLY),
    swap: figure(st?.vmSwap, 'status:VmSwap', missing),
    pageFaults: figure(
      p.pageFaults ? p.pageFaults.minor + p.pageFaults.major : null,
      'stat:minflt+majflt',
      linux ? '/proc/self/stat was not read' : NATIVE_ONLY,
    ),
    handles: figure(p.openFds, '/proc/self/fd', linux ? '/proc/self/fd was not read' : NATIVE_ONLY),
  }
}
function systemMemoryDetail(meminfo) {
  const linux = process.platform === 'linux'
  const missing = linux ? '/proc/meminfo was not read' : NATIVE_ONLY
  const mac = linux ? notOn('a macOS figure (host_statistics64)') : NATIVE_ONLY
  return {
    memoryLoadPercent: figure(null, null, linux ? notOn('a Windows figure (GlobalMemoryStatusEx)') : NATIVE_ONLY),
    commitLimit: figure(meminfo?.commitLimit, 'meminfo:CommitLimit', missing),
    commitTotal: figure(meminfo?.committedAs, 'meminfo:Committed_AS', missing),
    free: figure(null, null, mac),
    active: figure(null, null, mac),
    inactive: figure(null, null, mac),
    wired: figure(null, null, mac),
    compressed: figure(null, null, mac),
    pressureLevel: figure(null, null, linux ? notOn('a macOS figure (kern.memorystatus_vm_pressure_level); see pressure (PSI)') : NATIVE_ONLY),
  }
}

async function collect(smapsPolicy) {
  const fsp = fs.promises
  const failedProbes = []
  const skippedProbes = []
  const probeMicros = {}
  const linux = process.platform === 'linux'
  const run = async (name, fn, linuxOnly = true) => {
    const t = process.hrtime.bigint()
    try {
      if (linuxOnly && !linux) throw new Error(`unavailable on ${process.platform}: Linux only (procfs, cgroup or PSI)`)
      return await fn()
    } catch (e) {
      failedProbes.push({ probe: name, reason: e.message })
      return null
    } finally {
      probeMicros[name] = Number((process.hrtime.bigint() - t) / 1000n)
    }
  }
  const read = (p) => fsp.readFile(p, 'utf8')
  const status = await run('status', async () => parseStatus(await read('/proc/self/status')))
  const statm = await run('statm', async () => parseStatm(await read('/proc/self/statm'), status?.vmRss))
  // The cheap counters say how large the process is before anything walks its pages.
  const skipped = linux ? smapsRollupSkipReason(smapsPolicy, status?.vmRss ?? statm?.resident) : null
  if (skipped) skippedProbes.push({ probe: 'smapsRollup', reason: skipped })
  const smapsRollup = skipped
    ? null
    : await run('smapsRollup', async () => {
        const out = {}
        for (const line of (await read('/proc/self/smaps_rollup')).split('\n')) {
          const i = line.indexOf(':')
          if (i <= 0 || line.slice(0, i).includes(' ')) continue
          const q = quantity(line.slice(i + 1))
          if (q !== null) out[camel(line.slice(0, i))] = q
        }
        if (!Object.keys(out).length) throw new Error('no figures found in smaps_rollup')
        return out
      })
  const process_ = {
    status,
    statm,
    rssSplit: linux ? rssSplit(status, statm, smapsRollup, skipped) : null,
    smapsRollup,
    // readdir itself holds one descriptor on the directory while listing it.
    openFds: await run('openFds', async () => (await fsp.readdir('/proc/self/fd')).length - 1),
    openFdsLimit: await run('openFdsLimit', async () => {
      const line = (await read('/proc/self/limits')).split('\n').find((l) => l.startsWith('Max open files'))
      const soft = line && line.slice('Max open files'.length).trim().split(/\s+/)[0]
      if (!soft) throw new Error('/proc/self/limits: no "Max open files" line')
      return soft === 'unlimited' ? null : Number(soft)
    }),
    resourceUsage: await run(
      'resourceUsage',
      async () => {
        const r = process.resourceUsage()
        return {
          userCpuMicros: r.userCPUTime,
          systemCpuMicros: r.systemCPUTime,
          maxRssBytes: r.maxRSS * 1024,
          minorPageFaults: r.minorPageFault,
          majorPageFaults: r.majorPageFault,
          voluntaryContextSwitches: r.voluntaryContextSwitches,
          involuntaryContextSwitches: r.involuntaryContextSwitches,
        }
      },
      false,
    ),
    pageFaults: await run('pageFaults', async () => {
      const s = parseStat(await read('/proc/self/stat'))
      return { minor: s.minflt, major: s.majflt }
    }),
    oomScore: await run('oomScore', async () => {
      const n = async (f) => {
        const v = Number((await read(`/proc/self/${f}`)).trim())
        return Number.isInteger(v) ? v : null
      }
      return { score: await n('oom_score'), adj: await n('oom_score_adj') }
    }),
    mappings: await run('mappings', async () => {
      const lines = (await read('/proc/self/maps')).split('\n').filter(Boolean)
      return { total: lines.length, fileBacked: lines.filter((l) => (l.trim().split(/\s+/)[5] || '').startsWith('/')).length, truncated: false }
    }),
    uptimeSeconds: await run('uptime', async () => Math.round(process.uptime() * 1000) / 1000, false),
  }
  process_.memory = processMemory(process_)
  const system = await run(
    'system',
    async () => {
      let mem = null
      if (linux) mem = await read('/proc/meminfo').catch(() => null)
      const m = mem ? keyed(mem, { MemAvailable: 'available', SwapTotal: 'swapTotal', SwapFree: 'swapFree' }) : {}
      return {
        totalMemory: os.totalmem(),
        availableMemory: m.available ?? os.freemem(),
        freeMemory: os.freemem(),
        swapTotal: m.swapTotal ?? 0,
        swapFree: m.swapFree ?? 0,
        uptimeSeconds: Math.floor(os.uptime()),
        loadAverage: os.loadavg(),
        cpuCount: typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length,
        kernelVersion: os.release(),
        osVersion: os.version(),
        meminfo: mem ? keyed(mem, MEMINFO_KEYS) : null,
        memoryDetail: systemMemoryDetail(mem ? keyed(mem, MEMINFO_KEYS) : null),
      }
    },
    false,
  )
  if (system && linux) probeMicros.meminfo = 0
  const pressure = await run('pressure', async () => parsePsi(await read('/proc/pressure/memory')))
  for (const probe of ['cgroup', 'processTree']) {
    failedProbes.push({ probe, reason: 'unavailable in the js implementation (the native addon reads it)' })
  }
  return { process: process_, system, pressure, failedProbes, skippedProbes, probeMicros }
}

/** When this process started (epoch ms): Linux boot time + start time (lib/rules/process-start.js), else now − uptime. */
let processStart = null
function processStartMs() {
  if (processStart !== null) return processStart
  processStart = startMsOf('self') ?? Math.round(Date.now() - process.uptime() * 1000)
  return processStart
}

module.exports = { collect, parsePsi, parseStat, parseStatus, processStartMs }
