'use strict'
const { fixed } = require('./format')
// The pure-JS implementation, used when the native binding cannot be loaded (an
// unsupported platform, a missing optional dependency, the wrong libc) or when
// MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS=1. Same API, same document schema, same file rules
// and the same argument errors as the native addon; the test suite runs against both.
//
// What it cannot do as well: phase 1 allocates on the JS heap, phase 2 runs on the JS
// thread (its file reads use the libuv threadpool), and the cgroup and process-tree
// probes are native-only (listed in `collection.failedProbes`).

const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { version: addonVersion } = require('../package.json')

// Everything both implementations must agree on (limits, defaults, field tables, option
// names, strings, thresholds, name patterns) comes from the Rust crate through contract.json.
const CONTRACT = require('./contract.json')
const { defaults: DEFAULTS, limits: LIMITS } = CONTRACT.options
const { describe, expectObject, invalidArg, readOptions, shortSessionId } = require('./options')
const { readInput } = require('./input')
const STALE_TEMP_AGE_MS = CONTRACT.files.staleTempAgeMs
// The cooldown's monotonic clock, taken when this module loads so that fake timers in a
// host's tests leave it alone (as they leave the native clock alone); `options.now` is
// the way to drive it.
const monotonicNow = performance.now.bind(performance)
// Likewise the turn phase 2 waits for: fake timers in a host's tests must not hold it back.
const realSetImmediate = setImmediate
const TRIGGERS = CONTRACT.triggers.accepted
const ACCEPTED_TRIGGERS = CONTRACT.triggers.acceptedText

// ---- files --------------------------------------------------------------------------

const DUMP_NAME = new RegExp(CONTRACT.files.dumpName)
// `.<final>.A<token>.tmp` (this implementation: judged by age), `.<final>.L<token>.tmp` (the
// native addon's, locked by their writer; this implementation cannot test the lock, so by
// age too) and `.<final>.<pid>-<n>.tmp` (older versions: by age).
const TEMP_NAME = /^\.(.+)\.(?:[AL][0-9a-f]{8,32}|\d+-\d+)\.tmp$/
const { futureToleranceMs: FUTURE_TOLERANCE_MS, maxNameAttempts: MAX_NAME_ATTEMPTS } = CONTRACT.files

function parseDumpName(name) {
  const m = DUMP_NAME.exec(name)
  if (!m || (m[4] !== undefined && Number(m[4]) < 2)) return null
  return { session: m[1], stamp: m[2], number: Number(m[3]), copy: m[4] === undefined ? 1 : Number(m[4]) }
}

/** The k-th name to try for a dump whose first choice is `base` (k >= 2: `-<n>.<k>.json`). */
function candidateName(base, k) {
  const suffix = CONTRACT.files.dumpSuffix
  return k <= 1 ? base : `${base.slice(0, -suffix.length)}.${k}${suffix}`
}

/**
 * Creates `dir` and its missing parents one at a time. Not `mkdirSync({ recursive: true })`:
 * under /proc (where mkdir fails with ENOENT on an existing parent) Node's recursive
 * mkdir loops forever.
 */
function mkdirs(dir) {
  const missing = []
  for (let d = path.resolve(dir); !fs.existsSync(d); ) {
    missing.unshift(d)
    const up = path.dirname(d)
    if (up === d) break
    d = up
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode: 0o700 })
    } catch (e) {
      if (e.code !== 'EEXIST') throw e
    }
  }
}

/**
 * Creates the directory (0700) or makes an existing one safe: refused when it is not a
 * directory, is another user's, or is a sticky shared directory writable by others; a
 * directory of ours that group or others may write to is tightened to 0700 through an
 * open handle. Returns the old mode when it tightened, else null.
 */
function prepareDir(dir) {
  // The usual case, the directory exists: no mkdir.
  if (!fs.existsSync(dir)) {
    try {
      mkdirs(dir)
    } catch (e) {
      throw new Error(`could not create diagnostics directory ${dir}: ${e.message}`)
    }
  }
  // One stat, no descriptor, in the usual case.
  const checked = (st) => {
    if (!st.isDirectory()) throw new Error(`could not use diagnostics directory ${dir}: the path exists and is not a directory`)
    if (typeof process.geteuid === 'function' && st.uid !== process.geteuid()) {
      throw new Error(`could not use diagnostics directory ${dir}: it is owned by uid ${st.uid}, not by this process's uid ${process.geteuid()}`)
    }
    return st
  }
  let st
  try {
    st = fs.statSync(dir)
  } catch (e) {
    throw new Error(`could not inspect diagnostics directory ${dir}: ${e.message}`)
  }
  checked(st)
  const mode = st.mode & 0o7777
  if (typeof process.geteuid !== 'function' || !(mode & 0o022)) return null
  if (mode & 0o1000) {
    throw new Error(
      `could not use diagnostics directory ${dir}: it is a shared sticky directory writable by group or others (mode ${mode.toString(8)}); use a private subdirectory`,
    )
  }
  // Tightened through a handle checked to be the same directory.
  let fd
  try {
    fd = fs.openSync(dir, 'r')
  } catch (e) {
    throw new Error(`could not inspect diagnostics directory ${dir}: ${e.message}`)
  }
  try {
    const opened = checked(fs.fstatSync(fd))
    if (opened.dev !== st.dev || opened.ino !== st.ino) throw new Error(`could not use diagnostics directory ${dir}: it was replaced while it was being checked`)
    try {
      fs.fchmodSync(fd, 0o700)
    } catch (e) {
      throw new Error(`could not tighten diagnostics directory to mode 0700 ${dir}: ${e.message}`)
    }
    return opened.mode & 0o7777
  } finally {
    fs.closeSync(fd)
  }
}

const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW || 0)

/** A temporary name no other writer (any process, namespace or host) will pick. */
function tempPath(dir, finalName) {
  return path.join(dir, `.${finalName}.A${crypto.randomBytes(8).toString('hex')}.tmp`)
}

/**
 * Phase 1: a temporary file, then a no-replace link to the first free name from `base`
 * (`link()` never replaces), no fsync. Returns the name taken and the file's identity.
 */
function writeNewSync(dir, base, text) {
  const tmp = tempPath(dir, base)
  let step = 'create temporary file'
  let at = tmp
  try {
    const fd = fs.openSync(tmp, CREATE_FLAGS, 0o600)
    let id
    try {
      step = 'write temporary file'
      fs.writeSync(fd, text)
      const st = fs.fstatSync(fd)
      id = { dev: st.dev, ino: st.ino }
    } finally {
      fs.closeSync(fd)
    }
    step = 'link into place'
    for (let k = 1; k <= MAX_NAME_ATTEMPTS; k++) {
      const name = candidateName(base, k)
      at = path.join(dir, name)
      try {
        fs.linkSync(tmp, at)
        return { name, id }
      } catch (e) {
        if (e.code !== 'EEXIST') throw e
      }
    }
    step = 'find a free name for'
    throw new Error(`${MAX_NAME_ATTEMPTS} names taken`)
  } catch (e) {
    throw new Error(`could not ${step} ${at}: ${e.message}`)
  } finally {
    try {
      fs.unlinkSync(tmp)
    } catch {}
  }
}

/**
 * Phase 2: temporary file, fsync, rename over the final name (only while it still holds
 * this dump's phase-1 file `id`), fsync of the directory.
 */
async function replaceOwn(dir, finalName, id, text) {
  const fsp = fs.promises
  const tmp = tempPath(dir, finalName)
  const finalPath = path.join(dir, finalName)
  let step = 'create temporary file'
  try {
    const fh = await fsp.open(tmp, CREATE_FLAGS, 0o600)
    try {
      step = 'write temporary file'
      await fh.writeFile(text)
      step = 'fsync temporary file'
      await fh.sync()
    } finally {
      await fh.close()
    }
    step = 'replace'
    let st
    try {
      st = await fsp.lstat(finalPath)
    } catch (e) {
      if (e.code === 'ENOENT') throw new Error('the phase-1 file was removed before phase 2 (retention)')
      throw e
    }
    if (st.dev !== id.dev || st.ino !== id.ino) throw new Error("the name no longer holds this dump's phase-1 file")
    step = 'rename into place'
    await fsp.rename(tmp, finalPath)
  } catch (e) {
    await fsp.unlink(tmp).catch(() => {})
    throw new Error(`could not ${step} ${step === 'rename into place' || step === 'replace' ? finalPath : tmp}: ${e.message}`)
  }
  // Windows cannot fsync a directory (FlushFileBuffers on a directory handle opened for
  // reading fails with EPERM); the native writer skips it there too.
  if (process.platform === 'win32') return
  try {
    const d = await fsp.open(dir, 'r')
    try {
      await d.sync()
    } catch (e) {
      if (e.code !== 'EINVAL') throw new Error(`could not fsync directory ${dir}: ${e.message}`)
    } finally {
      await d.close()
    }
  } catch (e) {
    if (e.message.startsWith('could not')) throw e
  }
}

/** `2026-11-24T12-07-55-123Z` for an epoch time. */
function fileStamp(ms) {
  return new Date(ms).toISOString().replace(/[:.]/g, '-')
}

/**
 * At most `maxFiles` dumps, oldest first by the time in the name; a name dated more than a
 * minute ahead (written by a clock that was ahead) counts as the oldest; never a name in
 * `keep`. Recorder files are the native addon's (it can tell a live one by its lock); this
 * implementation leaves them alone.
 */
function applyRetention(dir, maxFiles, keep = []) {
  let names
  try {
    names = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return
  }
  const horizon = fileStamp(Date.now() + FUTURE_TOLERANCE_MS)
  const ours = []
  for (const e of names) {
    const p = parseDumpName(e.name)
    if (p && (e.isFile() || e.isSymbolicLink())) ours.push({ ...p, trusted: p.stamp <= horizon, name: e.name })
  }
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0)
  ours.sort((a, b) => cmp(a.trusted, b.trusted) || cmp(a.stamp, b.stamp) || a.number - b.number || a.copy - b.copy || cmp(a.session, b.session))
  let excess = ours.length - maxFiles
  for (const o of ours) {
    if (excess <= 0) break
    if (keep.includes(o.name)) continue
    try {
      fs.unlinkSync(path.join(dir, o.name))
    } catch {}
    excess--
  }
}

/**
 * Removes temporary files older than STALE_TEMP_AGE_MS, whoever wrote them. Pids are never
 * consulted (a writer in another PID namespace or on another host would look dead), and
 * no write of ours takes anywhere near that long.
 */
function sweepStaleTemps(dir) {
  let names
  try {
    names = fs.readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    const m = TEMP_NAME.exec(name)
    if (!m || !parseDumpName(m[1])) continue
    try {
      if (Date.now() - fs.lstatSync(path.join(dir, name)).mtimeMs > STALE_TEMP_AGE_MS) fs.unlinkSync(path.join(dir, name))
    } catch {}
  }
}

/** When this process started (epoch ms): Linux boot time + start time, else now − uptime. */
let processStart = null
function processStartMs() {
  if (processStart !== null) return processStart
  try {
    const stat = fs.readFileSync('/proc/self/stat', 'utf8')
    const start = Number(stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/)[19])
    const btime = Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))[1])
    // USER_HZ is 100 on every Linux architecture Node runs on.
    if (Number.isFinite(start) && Number.isFinite(btime)) processStart = btime * 1000 + Math.round((start * 1000) / 100)
  } catch {}
  if (processStart === null) processStart = Math.round(Date.now() - process.uptime() * 1000)
  return processStart
}

// ---- phase 2 probes -----------------------------------------------------------------

const STATUS_KEYS = {
  VmPeak: 'vmPeak', VmSize: 'vmSize', VmHWM: 'vmHwm', VmRSS: 'vmRss', RssAnon: 'rssAnon', RssFile: 'rssFile', RssShmem: 'rssShmem',
  VmData: 'vmData', VmStk: 'vmStk', VmExe: 'vmExe', VmLib: 'vmLib', VmPTE: 'vmPte', VmSwap: 'vmSwap', Threads: 'threads',
  voluntary_ctxt_switches: 'voluntaryCtxtSwitches', nonvoluntary_ctxt_switches: 'nonvoluntaryCtxtSwitches',
}
const MEMINFO_KEYS = { Buffers: 'buffers', Cached: 'cached', Shmem: 'shmem', SReclaimable: 'sReclaimable', Dirty: 'dirty', CommitLimit: 'commitLimit', Committed_AS: 'committedAs' }

function quantity(v) {
  const p = v.trim().split(/\s+/)
  if (!/^\d+$/.test(p[0] || '')) return null
  if (p.length === 1) return Number(p[0])
  if (p.length === 2 && p[1] === 'kB') return Number(p[0]) * 1024
  return null
}

function keyed(text, keys) {
  const out = Object.fromEntries(Object.values(keys).map((k) => [k, null]))
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i > 0 && keys[line.slice(0, i)]) out[keys[line.slice(0, i)]] = quantity(line.slice(i + 1))
  }
  return out
}

function camel(key) {
  if (/^[A-Z]+$/.test(key)) return key.toLowerCase()
  return key[0].toLowerCase() + key.slice(1).replace(/_(.)/g, (_, c) => c.toUpperCase())
}

const DEFAULT_SMAPS_ROLLUP_MAX_RSS_BYTES = DEFAULTS.smapsRollupMaxRssBytes
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

function parseStat(text) {
  const close = text.lastIndexOf(')')
  if (close < 0) throw new Error('stat: no command name')
  const rest = text.slice(close + 1).trim().split(/\s+/)
  const field = (n) => Number(rest[n - 3])
  return { ppid: field(4), minflt: field(10), majflt: field(12), starttime: field(22) }
}

function parsePsi(text) {
  const out = { some: null, full: null }
  for (const line of text.split('\n')) {
    const [kind, ...kv] = line.trim().split(/\s+/)
    if (kind !== 'some' && kind !== 'full') continue
    const o = {}
    for (const p of kv) {
      const [k, v] = p.split('=')
      o[k] = Number(v)
    }
    if (![o.avg10, o.avg60, o.avg300, o.total].every((x) => Number.isFinite(x) && x >= 0)) throw new Error(`malformed PSI line ${JSON.stringify(line)}`)
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
    pageFaults: figure(p.pageFaults ? p.pageFaults.minor + p.pageFaults.major : null, 'stat:minflt+majflt', linux ? '/proc/self/stat was not read' : NATIVE_ONLY),
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
  const status = await run('status', async () => keyed(await read('/proc/self/status'), STATUS_KEYS))
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

// ---- analysis (the rules of src/analysis.rs; thresholds and advice from contract.json) ----

const MIB = 1024 * 1024
const mib = (b) => `${fixed(b / MIB, 0)} MiB`

// ---- memory accounting and growth (as src/accounting.rs and src/analysis.rs) ----------

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
  const fromStatus = (v, src) => (v != null ? known(v, src) : status ? unknown(`${src} is not in /proc/self/status`) : unknown('/proc/self/status was not read'))
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

/** This dump's point for growth attribution (as collector::dump_point). */
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
function growth(points) {
  const { byKind, spans } = changes(points)
  const none = (evidence) => ({ kind: null, label: null, bytes: null, seconds: null, points: points.length, byKind, minBytes: GROWTH_MIN_BYTES, evidence, advice: null })
  if (points.length < 2 || !Object.keys(byKind).length) return none(`${points.length} point(s) with figures: growth needs two`)
  const listing = GROWTH_KINDS.filter(([k]) => k in byKind)
    .map(([k, l]) => `${l} ${signedMib(byKind[k])}`)
    .join(', ')
  let top = null
  for (const [k] of GROWTH_KINDS) if (k in byKind && byKind[k] >= GROWTH_MIN_BYTES && (!top || byKind[k] > top[1])) top = [k, byKind[k]]
  if (!top) return none(`nothing grew by ${mib(GROWTH_MIN_BYTES)} or more over ${points.length} points: ${listing}`)
  const [kind, bytes] = top
  const label = GROWTH_KINDS.find(([k]) => k === kind)[1]
  const [a, b] = spans[kind]
  const seconds = (b.epochMs - a.epochMs) / 1000
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
  return {
    kind,
    label,
    bytes,
    seconds,
    points: points.length,
    byKind,
    minBytes: GROWTH_MIN_BYTES,
    evidence: `${label} grew ${signedMib(bytes)} over ${fixed(seconds, 1)} s (${points.length} points): ${detail} (all kinds: ${listing})`,
    advice: GROWTH_ADVICE[kind],
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
  if (known(f.cgroupOomKills) && f.cgroupOomKills > 0) {
    add('cgroupOomKills', 'critical', `the kernel has already OOM-killed ${fixed(f.cgroupOomKills, 0)} process(es) in this cgroup`, { oomKill: f.cgroupOomKills })
  }
  if (known(f.cgroupMaxEvents) && f.cgroupMaxEvents > 0) {
    add('cgroupLimitHit', 'warning', `the cgroup hit its memory limit ${fixed(f.cgroupMaxEvents, 0)} time(s) and had to reclaim`, { maxEvents: f.cgroupMaxEvents })
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
    add(
      'hostReportedPressure',
      hostSeverity,
      `the host reported ${f.trigger} memory pressure; no figure in this dump crossed a ${hostSeverity} threshold${seen.length ? ` (${seen.join(', ')})` : ''}`,
      evidence,
    )
  }
  // Most severe first; the rule order above breaks ties (a stable sort).
  risks.sort((a, b) => rank[b.severity] - rank[a.severity])
  // The advice of the most severe specific risk: the host's word only when it stands alone.
  const top = risks.find((r) => r.type !== 'hostReportedPressure') ?? risks[0]
  const advice = CONTRACT.analysis.advice
  const recommendation =
    top?.type === 'memoryGrowth' && grown ? grown.advice : top && Object.hasOwn(advice, top.type) ? advice[top.type] : CONTRACT.analysis.noRiskAdvice
  return { risks, recommendation, ...(grown && { growth: grown }) }
}

// ---- heap snapshot option -------------------------------------------------------------

const HEAP_SNAPSHOT_UNSUPPORTED =
  'unsupported in the js implementation: the redacting copy and the memory guard need the native addon (see docs/heap-snapshots.md)'

// ---- the dumper ---------------------------------------------------------------------

function create(fallbackReason) {
  class MemoryDiagnosticsDumper {
    #config
    #short
    #count = 0
    #last = null
    #problem = null
    #tightenedFrom = null
    #closed = false
    /** The first dump's growth point (this process), for the next dumps' growth attribution. */
    #firstPoint = { point: null }

    constructor(options) {
      const o = readOptions(options)
      const { directory: dir, sessionId, maxFiles } = o
      this.#config = { directory: dir, maxDumpsPerSession: o.maxDumpsPerSession, cooldownMs: o.cooldownMs, maxFiles, appVersion: o.appVersion, suggestions: o.suggestions, nativeOnly: o.nativeOnly, smapsRollup: o.smapsRollup, heapSnapshot: o.heapSnapshot, now: o.now, clock: 0 }
      this.#short = shortSessionId(sessionId)
      // An unusable directory is the dumper's `problem`, never a throw: the host must start
      // even when its diagnostics cannot.
      try {
        this.#tightenedFrom = prepareDir(dir)
        try {
          fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK)
        } catch (e) {
          throw new Error(`could not write to diagnostics directory ${dir}: ${e.message}`)
        }
      } catch (e) {
        this.#problem = e.message
      }
      // Stale temporary files and retention across every process using the directory (not
      // the crisis path: a dumper is made once).
      if (!this.#problem) {
        sweepStaleTemps(dir)
        applyRetention(dir, maxFiles)
      }
    }

    get dumpCount() {
      return this.#count
    }

    get directory() {
      return this.#config.directory
    }

    get sessionId() {
      return this.#short
    }

    get problem() {
      return this.#problem
    }

    /** Accepted for API compatibility; the recorder and watchdog are native-only. */
    observe(heapStatistics, memoryUsage) {
      expectObject(heapStatistics, 'heapStatistics')
      expectObject(memoryUsage, 'memoryUsage')
    }

    close() {
      this.#closed = true
    }

    /**
     * Internal (the package's entry calls it once a dump's phase 2 is on disk): adds the
     * allocation profile `section` (JSON) to the dump `filePath`, as the native addon does
     * (src/allocation.rs): only to this process's own dump in this dumper's directory, once,
     * before `collection`, by an atomic replace. Resolves null, or why it could not.
     */
    async allocationProfileAttach(filePath, section) {
      try {
        const name = path.basename(String(filePath))
        if (!DUMP_NAME.test(name)) return `${name} is not a dump file name`
        const finalPath = path.join(this.#config.directory, name)
        const st = await fs.promises.lstat(finalPath)
        if (!st.isFile() || st.size > LIMITS.allocationMaxDumpBytes) return `could not read ${finalPath}: not a regular dump file`
        const doc = JSON.parse(await fs.promises.readFile(finalPath, 'utf8'))
        if (doc === null || typeof doc !== 'object' || doc.pid !== process.pid) return `${finalPath} is another process's dump`
        if ('allocationProfile' in doc) return `${finalPath} already has an allocation profile`
        const out = {}
        for (const [k, v] of Object.entries(doc)) {
          if (k === 'collection') out.allocationProfile = JSON.parse(section)
          out[k] = v
        }
        await replaceOwn(this.#config.directory, name, { dev: st.dev, ino: st.ino }, JSON.stringify(out, null, 2))
        return null
      } catch (e) {
        return String((e && e.message) || e).slice(0, 500)
      }
    }

    resetForNewSession(sessionId) {
      if (sessionId !== undefined && sessionId !== null && typeof sessionId !== 'string') {
        throw invalidArg('sessionId', 'a string, or undefined', describe(sessionId))
      }
      this.#count = 0
      this.#last = null
      if (typeof sessionId === 'string') this.#short = shortSessionId(sessionId)
    }

    dump(trigger, input) {
      const started = process.hrtime.bigint()
      if (typeof trigger !== 'string' || !TRIGGERS.includes(trigger)) {
        throw invalidArg('trigger', ACCEPTED_TRIGGERS, describe(typeof trigger === 'string' ? trigger.slice(0, 64) : trigger))
      }
      const parsed = readInput(input)
      const c = this.#config
      let now = monotonicNow()
      if (c.now) {
        // The host's clock (fake timers in its tests); the monotonic clock otherwise.
        let v
        try {
          v = c.now()
        } catch {}
        if (typeof v === 'number' && Number.isFinite(v)) c.clock = Math.floor(Math.max(0, v))
        else parsed.warnings.push('options.now: threw or did not return a number; the cooldown used its previous value')
        now = c.clock
      }
      if (this.#problem) return Promise.resolve({ trigger, complete: false, written: false, error: this.#problem })
      const skip = (skipped, retryAfterMs) => Promise.resolve({ trigger, complete: false, written: false, skipped, retryAfterMs })
      if (this.#closed) return skip('closed', null)
      if (this.#count >= c.maxDumpsPerSession) return skip('cap', null)
      if (this.#last !== null && now - this.#last < c.cooldownMs) return skip('cooldown', Math.ceil(c.cooldownMs - Math.max(0, now - this.#last)))
      this.#count += 1
      this.#last = now
      const dumpNumber = this.#count
      const at = new Date()
      const timestamp = at.toISOString()
      const baseName = `${CONTRACT.files.dumpPrefix}${this.#short}-${timestamp.replace(/[:.]/g, '-')}-${dumpNumber}${CONTRACT.files.dumpSuffix}`
      let filePath = path.join(c.directory, baseName)
      const doc = {
        schemaVersion: CONTRACT.schemaVersion,
        trigger,
        dumpNumber,
        sessionId: this.#short,
        pid: process.pid,
        processStartMs: processStartMs(),
        timestamp,
        collectionComplete: false,
        atTrigger: parsed.atTrigger,
        session: parsed.session,
        suggestion: c.suggestions[trigger] ?? null,
        runtime: {
          nodeVersion: process.versions.node,
          napiVersion: Number(process.versions.napi) || null,
          platform: process.platform,
          arch: process.arch,
          addonVersion,
          appVersion: c.appVersion,
          implementation: 'js',
          fallbackReason,
        },
        inputWarnings: parsed.warnings,
        ...(parsed.samples && { samples: parsed.samples }),
        collection: { phase1Micros: 0, phase1Path: 'unarmed' },
      }
      let tightenedFrom = this.#tightenedFrom
      this.#tightenedFrom = null
      const heapSnapshot = c.heapSnapshot && c.heapSnapshot.triggers.includes(trigger) ? { status: 'skipped', skipped: HEAP_SNAPSHOT_UNSUPPORTED } : null
      const result = (complete, written, error) => ({
        filePath,
        trigger,
        dumpNumber,
        complete,
        written,
        ...(error && { error }),
        ...(heapSnapshot && complete && { heapSnapshot }),
      })
      let landed
      try {
        tightenedFrom = prepareDir(c.directory) ?? tightenedFrom
        if (tightenedFrom !== null) {
          // Before `collection`, where the native document has it.
          const collection = doc.collection
          delete doc.collection
          doc.directory = { tightenedFrom: tightenedFrom.toString(8) }
          doc.collection = collection
        }
        doc.collection.phase1Micros = Number((process.hrtime.bigint() - started) / 1000n)
        landed = writeNewSync(c.directory, baseName, JSON.stringify(doc, null, 2))
      } catch (e) {
        // A document that could not be written leaves the note for the next one.
        if (tightenedFrom !== null && this.#tightenedFrom === null) this.#tightenedFrom = tightenedFrom
        return Promise.resolve(result(false, false, `phase 1: ${e.message}`))
      }
      filePath = path.join(c.directory, landed.name)
      doc.collection.phase1Micros = Number((process.hrtime.bigint() - started) / 1000n)
      return phase2(doc, c, landed, heapSnapshot, this.#firstPoint).then(
        () => result(true, true),
        (e) => result(false, true, `phase 2: ${e.message}; the phase-1 document is left in place`),
      )
    }
  }

  async function phase2(doc, c, landed, heapSnapshot, first) {
    // After phase 1, on a later turn: retention (never the file just written) and the sweep.
    await new Promise((resolve) => realSetImmediate(resolve))
    applyRetention(c.directory, c.maxFiles, [landed.name])
    sweepStaleTemps(c.directory)
    const t = process.hrtime.bigint()
    const got = await collect(c.smapsRollup)
    const h = doc.atTrigger.v8HeapStats
    const u = doc.atTrigger.memoryUsage
    const sys = got.system
    const memoryLimit = sys && {
      effectiveLimitBytes: sys.totalMemory,
      source: 'physical',
      usageBytes: sys.totalMemory - sys.availableMemory,
      headroomBytes: sys.availableMemory,
      usageRatio: Math.round(((sys.totalMemory - sys.availableMemory) / sys.totalMemory) * 1e4) / 1e4,
    }
    const st = got.process.status
    const memoryAccounting = accounting(st, doc.atTrigger)
    const now = Date.now()
    const point = growthPoint(now, memoryAccounting, doc.atTrigger)
    const growthPoints = first.point && first.point.epochMs < now ? [first.point, point] : [point]
    if (!first.point) first.point = point
    const analysis = analyze({
      growthPoints,
      heapUsed: h.usedHeapSize,
      heapLimit: h.heapSizeLimit,
      heapAvailable: h.totalAvailableSize,
      heapTotal: u.heapTotal ?? h.totalHeapSize,
      detachedContexts: h.numberOfDetachedContexts,
      malloced: h.mallocedMemory,
      external: u.external,
      rss: st?.vmRss ?? u.rss,
      usageAgainstLimit: memoryLimit?.usageBytes,
      effectiveLimit: memoryLimit?.effectiveLimitBytes,
      psiSomeAvg10: got.pressure?.some.avg10,
      psiFullAvg10: got.pressure?.full?.avg10,
      swapBytes: st?.vmSwap,
      threads: st?.threads,
      openFds: got.process.openFds,
      openFdsLimit: got.process.openFdsLimit,
      trigger: doc.trigger,
    })
    const enriched = {
      ...doc,
      collectionComplete: true,
      process: got.process,
      ...(sys && { system: sys }),
      ...(memoryLimit && { memoryLimit }),
      ...(got.pressure && { pressure: got.pressure }),
      memoryAccounting,
      analysis,
      ...(heapSnapshot && { heapSnapshot }),
      collection: {
        phase1Micros: doc.collection.phase1Micros,
        phase1Path: doc.collection.phase1Path,
        phase2Millis: Number((process.hrtime.bigint() - t) / 1000n) / 1000,
        probeMicros: got.probeMicros,
        failedProbes: [
          ...got.failedProbes,
          ...c.nativeOnly.map((probe) => ({ probe, reason: 'unavailable in the js implementation: it needs a native thread' })),
        ],
        skippedProbes: got.skippedProbes,
      },
    }
    await replaceOwn(c.directory, landed.name, landed.id, JSON.stringify(enriched, null, 2))
  }

  return { MemoryDiagnosticsDumper }
}

// The growth rules are shared with inspect.js, which attributes growth across files the same way.
module.exports = { create, analyze, growthRules: { GROWTH_KINDS, GROWTH_ADVICE, GROWTH_MIN_BYTES, changes } }
