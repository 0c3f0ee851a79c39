'use strict'
// The next start's answer to "how did the last process here end?" (docs/previous-run.md):
// `inspect`'s verdict (verdict.js: describeProcess, one rule in one place) on what a start
// can afford to read. Bounded whatever the directory holds: one listing of LIMITS.entries, the
// stat of its trails, the first line and the last LIMITS.tailBytes of at most LIMITS.candidates
// of them, and at most LIMITS.dumps dumps of the chosen process of at most LIMITS.dumpBytes
// each. Each ended process is answered once per directory: the start that creates its marker
// (`<trail>.reported`, or for a process that kept no trail `memory-<session>-pid<pid>-start<ms>.reported`,
// O_CREAT|O_EXCL, which one start alone can do) answers it; every other start passes it by.
// Never throws: a problem is in the result.

const fs = require('node:fs')
const path = require('node:path')
const { openRegular, reason } = require('../files')
const { cleanEnd } = require('../../rules/ending')
const { READABLE_DUMP_NAME, READABLE_RECORDER_NAME, shortSessionId } = require('../../rules/names')
const { SAME_START_MS, startMsOf } = require('../../rules/process-start')
// What only a report needs (the verdict, inspect's values, the place rule) is loaded when one
// is made: the usual start, with nothing new or a clean end to tell, loads none of it.
const values = () => require('./values')

const LIMITS = {
  /** Directory entries looked at (a directory holds about 2 × maxFiles of ours). */
  entries: 10_000,
  /** Trails (newest first) or dumps whose first line and end are read to find the previous process. */
  candidates: 16,
  /** The start record is a trail's first line, well under this. */
  headBytes: 4096,
  /** The end of a trail read: about 180 one-second samples, the approach to the end. */
  tailBytes: 64 * 1024,
  /** Dumps of the process read: its first and its last (growth and which code grew need two). */
  dumps: 2,
  /** A dump larger than this is listed as evidence, not read (dumps are 10-50 KiB). */
  dumpBytes: 1024 * 1024,
  /** Markers whose files are gone, removed per call. */
  staleMarkers: 64,
  /** Process markers whose age is looked up (one lstat each) per call, to tell whether they are stale. */
  markerChecks: 256,
  /** Process markers kept without looking at their age: past this many, their age decides (a start's first lstat costs Node's stat machinery, about 0.4 ms). */
  keptMarkers: 32,
  /** Dumps of the process's session in its lifetime whose first KiB is read to tell whose they are (the newest kept). */
  evidence: 64,
  /** The first bytes of a dump, which hold its pid and start (the writer puts them first). */
  identityBytes: 1024,
  /** A trail without its start record, unlocked and untouched this long, is a writer's leftover: marked, so it takes no candidate's place. */
  leftoverMs: 60_000,
}
/**
 * A process marker: `memory-<session8>-pid<pid>-start<ms>.reported`, claimed for every
 * process answered (with a trail or without), so that its dumps are never told again once
 * its trail is gone, nor by a start that reads them before it sees the trail's marker.
 */
const PROCESS_MARKER = /^memory-([A-Za-z0-9_]{1,8})-pid(\d{1,10}|unknown)-start(\d{1,16}|unknown)\.reported$/
/** Exit records after which the process may go on (the dumper was closed, dropped, or started a new session). */
const RECORDER_ONLY_ENDS = new Set(['close', 'released', 'sessionReset'])
const MARKER = '.reported'
/** A live trail is written every interval; the JS fallback's test when it cannot test the lock. */
const FRESH_INTERVALS = 3

/** A figure from a file: a finite number within 2^53, or null (lib/cli/inspect/values.js's `num`, loaded only for a report). */
const num = (v) => (typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? v : null)
/** A time in epoch ms between 1970 and 9999, or null. */
const epoch = (v) => (num(v) != null && v >= 0 && v < 253402300800000 ? v : null)

let ownStart
/** This process's start as a writer records it (procfs on Linux, else now − uptime). */
function ownStartMs() {
  ownStart ??= startMsOf('self') ?? Math.round(Date.now() - process.uptime() * 1000)
  return ownStart
}

/**
 * Whether the process `pid` that started at `startMs` is running: `own` (this process),
 * `running` (it is, or a process with its pid whose start procfs cannot tell), or `gone`
 * (no process has its pid, or another process does: a pid reused, a container's pid 1).
 */
function processState(pid, startMs) {
  if (pid == null || !Number.isSafeInteger(pid) || pid <= 0) return 'gone'
  if (pid === process.pid) {
    const tolerance = startMsOf('self') === null ? 1000 : SAME_START_MS
    return startMs != null && Math.abs(ownStartMs() - startMs) <= tolerance ? 'own' : 'gone'
  }
  try {
    process.kill(pid, 0)
  } catch (e) {
    if (e.code !== 'EPERM') return 'gone'
  }
  const now = startMsOf(pid)
  if (now === null || startMs == null) return 'running'
  return Math.abs(now - startMs) <= SAME_START_MS ? 'running' : 'gone'
}

/** The trail's lock: true (held), false (free or gone), or null (cannot be told, or no addon). */
function lockState(binding, file) {
  try {
    const h = binding?.heldByLiveWriter?.(file)
    return h === true || h === false ? h : null
  } catch {
    return null
  }
}

/**
 * Whether a trail's process still runs (`{ live, own, by }`). The native addon tells by the
 * trail's lock, held while its writer lives, stopped or not. A lock that was let go with the
 * process still running (its dumper closed, dropped, or on a new session: the trail ends in
 * such an exit record) and the JS fallback (no lock test) ask the process: its pid and, on
 * Linux, its start. Without a pid, a trail written within FRESH_INTERVALS intervals is live.
 */
function liveness(heldByLiveWriter, file, start, last, mtimeMs, nowMs) {
  const pid = num(start?.pid)
  const state = processState(pid, epoch(start?.processStartMs))
  if (state === 'own') return { live: true, by: heldByLiveWriter ? 'lock' : 'pid' }
  if (heldByLiveWriter) {
    // true (held), false (free or gone), or null: it could not be tested (the file would not
    // open), and the pid test below answers instead.
    let held = null
    try {
      const h = heldByLiveWriter(file)
      held = h === true || h === false ? h : null
    } catch {}
    if (held === true) return { live: true, by: 'lock' }
    if (held === false) {
      const maybeOn = last?.type === 'exit' && RECORDER_ONLY_ENDS.has(last.reason)
      return { live: maybeOn && state === 'running', by: 'lock' }
    }
  }
  if (pid == null) {
    const interval = Math.max(num(start?.intervalMs) ?? 1000, 100)
    return { live: nowMs - mtimeMs <= FRESH_INTERVALS * interval + 5000, by: 'pid' }
  }
  return { live: state === 'running', by: 'pid' }
}

/** Reads `length` bytes at `position` of an open file (fewer at its end). */
function readAt(fd, position, length) {
  const buf = Buffer.allocUnsafe(length)
  let got = 0
  while (got < length) {
    const n = fs.readSync(fd, buf, got, length - got, position + got)
    if (n === 0) break
    got += n
  }
  return buf.subarray(0, got)
}

/**
 * JSON text's value, or undefined. JSON.parse, not the checking parser inspect uses
 * (lib/cli/json.js, 2 ms more at a start): the text is bounded in bytes (LIMITS), so every
 * array in it and every walk over one is too; V8's parser does not recurse (half a million
 * nested arrays parse), and nothing here walks a value's depth: the verdict reads named
 * fields.
 */
function parsed(text) {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The JSON object on a line, or null. */
function record(line) {
  if (!line || line.length > LIMITS.tailBytes) return null
  const r = parsed(line)
  if (!r || typeof r !== 'object' || Array.isArray(r)) return null
  const ms = epoch(r.epochMs) ?? values().timeOf(r.t)
  return ms == null ? null : { ...r, epochMs: ms }
}

/**
 * `file` opened as lib/cli/files.js opens it (a regular file, never through a link, never
 * blocking), and not a hard link: the writer never links its files, and a second name of a
 * file of someone else's is not ours to read.
 */
function openOwn(file) {
  const o = openRegular(file)
  if (o.error) return o
  try {
    if (fs.fstatSync(o.fd).nlink > 1) {
      fs.closeSync(o.fd)
      return { error: 'skipped: a hard link' }
    }
  } catch (e) {
    fs.closeSync(o.fd)
    return { error: `cannot read: ${reason(e)}` }
  }
  return o
}

/** A trail's start record (its first line), read through a descriptor that never follows a link. */
function headOf(file) {
  const o = openOwn(file)
  if (o.error) return { error: o.error }
  try {
    const text = readAt(o.fd, 0, Math.min(o.size, LIMITS.headBytes)).toString('utf8')
    const end = text.indexOf('\n')
    const start = end < 0 ? null : record(text.slice(0, end))
    return { start: start?.type === 'start' ? start : null, size: o.size, mtimeMs: o.mtimeMs }
  } catch (e) {
    return { error: `cannot read: ${reason(e)}` }
  } finally {
    fs.closeSync(o.fd)
  }
}

/** The records of a trail's last LIMITS.tailBytes (a partial first line dropped), and whether its last line is torn. */
function tailOf(file) {
  const o = openOwn(file)
  if (o.error) return { error: o.error }
  try {
    const from = Math.max(0, o.size - LIMITS.tailBytes)
    const text = readAt(o.fd, from, o.size - from).toString('utf8')
    const lines = text.split('\n')
    const torn = lines.at(-1) !== ''
    lines.pop()
    if (from > 0) lines.shift()
    const records = []
    for (const l of lines) {
      const r = record(l)
      if (r) records.push(r)
    }
    return { records, torn, cut: from > 0 }
  } catch (e) {
    return { error: `cannot read: ${reason(e)}` }
  } finally {
    fs.closeSync(o.fd)
  }
}

/** A dump name's time (`memory-<session>-2026-11-26T18-58-50-959Z-1.json`), or null. */
function nameTime(name) {
  const m = /-(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)-(\d{3})Z-/.exec(name)
  return m ? epoch(Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`)) : null
}

function readDump(file) {
  const o = openOwn(file)
  if (o.error) return null
  try {
    if (o.size > LIMITS.dumpBytes) return null
    const doc = parsed(readAt(o.fd, 0, o.size).toString('utf8'))
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return null
    const time = values().timeOf(doc.timestamp)
    return time == null ? null : { file, doc, time }
  } catch {
    return null
  } finally {
    fs.closeSync(o.fd)
  }
}

/**
 * A dump's pid and recorded start from its first LIMITS.identityBytes (the writer puts
 * `pid` and `processStartMs` before anything of size), or null when unreadable.
 */
function identityOf(file) {
  const o = openOwn(file)
  if (o.error) return null
  try {
    const head = readAt(o.fd, 0, Math.min(o.size, LIMITS.identityBytes)).toString('utf8')
    const pid = /"pid":\s*(\d{1,10})[,\s}]/.exec(head)
    const start = /"processStartMs":\s*(\d{1,16})[,\s}]/.exec(head)
    return { pid: pid ? Number(pid[1]) : null, startMs: start ? Number(start[1]) : null }
  } catch {
    return null
  } finally {
    fs.closeSync(o.fd)
  }
}

/** Whether a dump's `identity` (pid, recorded start) is the process `pid` that started at `startMs`. */
function sameProcess(identity, pid, startMs) {
  if (!identity || identity.pid !== pid) return false
  return identity.startMs == null || startMs == null || Math.abs(identity.startMs - startMs) <= SAME_START_MS
}

/** A path as a shell word: quoted unless it is plain. */
const shellWord = (s) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`)
/** Characters that would act on a terminal (controls, bidirectional overrides) or end the line. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

/**
 * The directory as a shell word a user can paste: under the home directory as `~/…` (the
 * shell expands an unquoted leading `~`), else as it is. A name with characters that act on a
 * terminal is shown escaped (\uXXXX), which no shell runs as it is: never raw.
 */
function dirWord(resolved) {
  // The home directory goes first, whatever follows it.
  const home = require('node:os')
    .homedir()
    .replace(/[\\/]+$/, '')
  const under = home.length >= 2 && (resolved === home || resolved.startsWith(`${home}${path.sep}`))
  const rest = under ? resolved.slice(home.length + 1) : resolved
  // Escaped, and quoted all the same: the escapes leave the shell's own characters (`;`, a
  // space) as they are, which only quotes keep from running.
  const word = shellWord(UNPRINTABLE.test(rest) ? values().clean(rest, 4096) : rest)
  if (!under) return word
  return rest ? `~/${word}` : '~'
}

/** The one line a CLI prints about a death (docs/previous-run.md). */
function lineOf(r) {
  if (!r.trail && r.files.length) {
    const grew = r.growth ? ` (${r.growth.kind} grew by ${values().mib(r.growth.bytes)})` : ''
    return `The last run of this program (pid ${r.pid ?? '?'}) wrote ${r.files.length === 1 && !r.filesCut ? 'a memory dump' : `${r.filesCut ? 'at least ' : ''}${r.files.length} memory dumps`}${grew}; whether it crashed is unknown, as it kept no recorder trail. Evidence: ${r.bundleCommand}`
  }
  if (!r.died) return null
  // The time alone when it ended today (UTC), else with its date.
  const when = r.at
    ? r.at.slice(0, 10) === new Date().toISOString().slice(0, 10)
      ? ` at ${r.at.slice(11, 19)} UTC`
      : ` on ${r.at.slice(0, 10)} at ${r.at.slice(11, 19)} UTC`
    : ''
  const how = r.cause ? r.cause.text : 'it ended without an exit record (the recorder stopped with it)'
  const grew = r.growth ? `; ${r.growth.kind} grew by ${values().mib(r.growth.bytes)}` : ''
  const site = r.site ? `; ${r.site.function} (${r.site.place}) allocated most of the growth` : ''
  const stall = r.blockedIn ? `; the event loop was blocked in ${r.blockedIn.function} (${r.blockedIn.place})` : ''
  return `The last run of this program (pid ${r.pid ?? '?'})${when} crashed: ${how}${grew}${site}${stall}. Evidence: ${r.bundleCommand}`
}

/** `{ claimed }`: this start created the marker (a new file, never through a link); `{ taken }`: another did first; `{ error }`. */
function claim(marker) {
  try {
    fs.closeSync(fs.openSync(marker, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, 0o600))
    return { claimed: true }
  } catch (e) {
    return e.code === 'EEXIST' ? { taken: true } : { error: `cannot mark it answered: ${reason(e)}` }
  }
}

/**
 * How the previous process of `options.directory` ended (docs/previous-run.md), or null when
 * there is none to tell of: no trail of another process, every other one still running, or
 * every ended one answered already (by this or another start). `binding` (the native addon,
 * or null) gives the lock test.
 */
function previousRun(options, binding) {
  try {
    return find(options, binding, require('../../contract.json'))
  } catch (e) {
    // The net under the net: a start-up call never throws into the host.
    return problem(`could not be read (${String(e?.code ?? e?.name ?? 'error').slice(0, 40)})`)
  }
}

const problem = (text) => ({ outcome: 'unknown', died: false, problem: text, line: null })

/** The caller's options, each read once; a getter that throws is named by its field, never its message. */
function readOptions(options) {
  if (options === null || typeof options !== 'object') return { error: 'options: expected an object with a directory' }
  const out = {}
  for (const k of ['directory', 'sessionId', 'bundleCommand']) {
    try {
      // Own properties only: a polluted Object.prototype is never an option.
      out[k] = Object.hasOwn(options, k) ? options[k] : undefined
    } catch {
      return { error: `options.${k}: reading it threw` }
    }
  }
  return out
}

function find(options, binding, contract) {
  const o = readOptions(options)
  if (o.error) return problem(o.error)
  const { directory: dir, sessionId: session, bundleCommand: asOf } = o
  if (typeof dir !== 'string' || dir === '' || dir.includes('\0')) return problem('options.directory: expected a non-empty path')
  if (session != null && (typeof session !== 'string' || session === '')) return problem('options.sessionId: expected a non-empty string')
  if (asOf != null && typeof asOf !== 'string') return problem('options.bundleCommand: expected a string')
  const wantSession = session == null ? null : shortSessionId(session)
  let names
  let complete = true
  try {
    names = []
    const d = fs.opendirSync(dir)
    try {
      for (let e = d.readSync(); e; e = d.readSync()) {
        if (names.length >= LIMITS.entries) {
          complete = false
          break
        }
        names.push(e.name)
      }
    } finally {
      d.closeSync()
    }
  } catch (e) {
    return e.code === 'ENOENT' ? null : problem(`options.directory: cannot list it (${reason(e)})`)
  }
  const all = new Set(names)
  const F = contract.files
  const idx = indexOf(names, F)
  // Markers whose files are gone (retention removed them), a few per call; only from a whole
  // listing (a file past its bound is not gone). A process marker goes once no dump of its
  // session is left; past LIMITS.keptMarkers of them, once none is left from its process's
  // start to the marker's making: retention removes the oldest first, so every marker goes in
  // time, whoever else shares the session.
  const ageMatters = idx.processMarkers > LIMITS.keptMarkers
  let swept = 0
  let checks = 0
  for (const n of complete ? names : []) {
    if (swept >= LIMITS.staleMarkers || !n.endsWith(MARKER)) continue
    const base = n.slice(0, -MARKER.length)
    const proc = PROCESS_MARKER.exec(n)
    let gone
    if (proc) {
      const first = firstAtOrAfter(idx.dumpTimes.get(proc[1]), proc[3] === 'unknown' ? -Infinity : Number(proc[3]) - 2000)
      if (first === undefined) gone = true
      else if (!ageMatters) continue
      else {
        if (checks >= LIMITS.markerChecks) continue
        checks++
        try {
          // Two seconds of slack for the file system's clock against the names' clock.
          gone = first > fs.lstatSync(path.join(dir, n)).mtimeMs + 2000
        } catch {
          continue
        }
      }
    } else if (READABLE_RECORDER_NAME.test(base) || READABLE_DUMP_NAME.test(base)) gone = !all.has(base) && !all.has(`${base}${F.rotatedSuffix}`)
    else continue
    if (!gone) continue
    swept++
    try {
      fs.unlinkSync(path.join(dir, n))
    } catch {}
  }
  // Current trails (a rotated `.1` is the older part of one), by modification time, newest first.
  const trails = []
  for (const n of names) {
    if (!READABLE_RECORDER_NAME.test(n) || n.endsWith(F.rotatedSuffix) || all.has(`${n}${MARKER}`)) continue
    if (wantSession && !n.startsWith(`${F.recorderPrefix}${wantSession}-`)) continue
    try {
      const st = fs.lstatSync(path.join(dir, n))
      if (st.isFile()) trails.push({ name: n, mtimeMs: st.mtimeMs })
    } catch {}
  }
  trails.sort((a, b) => b.mtimeMs - a.mtimeMs)
  const now = Date.now()
  for (const t of trails.slice(0, LIMITS.candidates)) {
    const file = path.join(dir, t.name)
    const head = headOf(file)
    if (head.error) continue
    // Without its start record (an empty or torn first line) whose trail it is cannot be
    // told, nor which dumps are its process's: it is never reported. A writer's leftover
    // (unlocked, untouched for a minute) is marked, so it takes no candidate's place again.
    if (!head.start) {
      if (now - head.mtimeMs > LIMITS.leftoverMs && lockState(binding, file) !== true) claim(`${file}${MARKER}`)
      continue
    }
    const start = head.start
    if (wantSession && typeof start.sessionId === 'string' && shortSessionId(start.sessionId) !== wantSession) continue
    let tail = tailOf(file)
    if (tail.error) continue
    const last = tail.records.at(-1)
    const live = liveness(binding?.heldByLiveWriter, file, start, last, head.mtimeMs, now)
    if (live.live) continue
    // A session reset is not an end: the process went on in its next trail, which tells it.
    // Its process gone, the trail is marked, so it takes no candidate's place again.
    if (last?.type === 'exit' && last.reason === 'sessionReset') {
      claim(`${file}${MARKER}`)
      continue
    }
    const c = claim(`${file}${MARKER}`)
    if (c.taken) continue
    // Read again now that it is ours and its process is gone: the exit record may have been
    // written between the first read and the lock test.
    const again = tailOf(file)
    if (!again.error) tail = again
    // Its process is claimed too (the marker a start that reads only its dumps looks for): a
    // start that took it first, from those dumps, has told it.
    const pid = num(start.pid)
    const pc = validPid(pid) ? claim(path.join(dir, processMarker(F, trailSession(t.name, F), pid, epoch(start.processStartMs)))) : {}
    if (pc.taken) continue
    return answer(dir, t.name, start, tail, names, live.by, c.error ?? pc.error ?? null, asOf, contract)
  }
  return dumpsOnly(dir, names, all, idx, wantSession, asOf, contract)
}

/** The short session id in a trail's name (`recorder-<session8>-<pid>-<id>.jsonl`). */
const trailSession = (name, F) =>
  name
    .slice(F.recorderPrefix.length)
    .replace(/\.jsonl(\.1)?$/, '')
    .split('-')[0]
/** The short session id in a dump's name (`memory-<session8>-<time>-<n>.json`). */
const dumpSession = (name, F) => name.slice(F.dumpPrefix.length).split('-')[0]
const validPid = (pid) => pid != null && Number.isSafeInteger(pid) && pid > 0

/** The marker of the process `pid` of `session8` that started at `startMs` (either may be unknown). */
function processMarker(F, session8, pid, startMs) {
  return `${F.dumpPrefix}${session8}-pid${validPid(pid) ? pid : 'unknown'}-start${startMs != null ? Math.round(startMs) : 'unknown'}${MARKER}`
}

/**
 * What one pass over the listing tells: each session's dump times (ascending), the processes
 * answered (by their markers), the sessions and pids that kept a trail here (its name carries
 * its pid), and the sessions of trails named without a pid (older writers).
 */
function indexOf(names, F) {
  const dumpTimes = new Map()
  const answered = new Map()
  const trailPids = new Map()
  const oldTrails = new Set()
  let processMarkers = 0
  const trailName = /^([A-Za-z0-9_]{1,8})-(\d{1,10})-[A-Za-z0-9_]+\.jsonl(\.1)?$/
  for (const n of names) {
    if (READABLE_DUMP_NAME.test(n)) {
      const t = nameTime(n)
      if (t == null) continue
      const k = dumpSession(n, F)
      if (!dumpTimes.has(k)) dumpTimes.set(k, [])
      dumpTimes.get(k).push(t)
    } else if (READABLE_RECORDER_NAME.test(n)) {
      const m = trailName.exec(n.slice(F.recorderPrefix.length))
      if (m) {
        const k = `${m[1]}-${Number(m[2])}`
        if (!trailPids.has(k)) trailPids.set(k, [])
        trailPids.get(k).push(n)
      } else oldTrails.add(trailSession(n, F))
    } else {
      const m = PROCESS_MARKER.exec(n)
      if (!m) continue
      processMarkers++
      // By pid: a process is one whatever sessions it wrote under (resetForNewSession(id)).
      const k = m[2] === 'unknown' ? 'unknown' : String(Number(m[2]))
      if (!answered.has(k)) answered.set(k, [])
      answered.get(k).push({ session8: m[1], start: m[3] === 'unknown' ? null : Number(m[3]) })
    }
  }
  for (const times of dumpTimes.values()) times.sort((a, b) => a - b)
  return { dumpTimes, answered, trailPids, oldTrails, processMarkers }
}

/** The first of ascending `times` at or after `from`, or undefined. */
function firstAtOrAfter(times, from) {
  if (!times) return undefined
  let lo = 0
  let hi = times.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (times[mid] < from) lo = mid + 1
    else hi = mid
  }
  return times[lo]
}

/** Whether a marker says the process `pid` of `session8` that started at `startMs` was answered. */
function wasAnswered(idx, session8, pid, startMs) {
  const marks = idx.answered.get(validPid(pid) ? String(pid) : 'unknown')
  if (!marks) return false
  // A known pid and start name one process in any session; otherwise within the session only.
  return marks.some((m) =>
    validPid(pid) && startMs != null && m.start != null
      ? Math.abs(m.start - Math.round(startMs)) <= SAME_START_MS
      : m.session8 === session8 && m.start == null && startMs == null,
  )
}

/**
 * Whether the process `pid` of `session8` that started at `startMs` kept a trail here: a trail
 * named with its session and pid whose start record gives its start (or no start to compare).
 * A later process with its pid (a container's pid 1) has another start, and is not its.
 */
function keptTrail(dir, idx, session8, pid, startMs, heads) {
  for (const name of idx.trailPids.get(`${session8}-${pid}`) ?? []) {
    if (!heads.has(name)) {
      if (heads.size >= LIMITS.candidates) return true
      heads.set(name, headOf(path.join(dir, name)))
    }
    const h = heads.get(name)
    const s = epoch(h.start?.processStartMs)
    if (h.error || !h.start || s == null || startMs == null || Math.abs(s - startMs) <= SAME_START_MS) return true
  }
  return false
}

/**
 * A process that left dumps but no trail (the JS fallback keeps none, or the recorder was
 * off): the newest unanswered dump of a process that has ended and that no trail tells. Its
 * verdict says that dumps alone cannot tell a crash from a clean exit. The claim is on the
 * process (its marker names its session, pid and start), so that two starts that read two
 * of its dumps still agree, and so that a process answered by its trail is never told again
 * from its dumps, its trail gone or not. A dump of a process answered already is marked, so
 * that later starts skip it unread.
 */
function dumpsOnly(dir, names, all, idx, wantSession, bundleBase, contract) {
  const F = contract.files
  const dumps = names
    .filter(
      (n) =>
        READABLE_DUMP_NAME.test(n) &&
        !UNPRINTABLE.test(n) &&
        !all.has(`${n}${MARKER}`) &&
        // A trail named without its pid (an older writer) tells every dump of its session.
        !idx.oldTrails.has(dumpSession(n, F)) &&
        (!wantSession || dumpSession(n, F) === wantSession),
    )
    .map((n) => ({ n, t: nameTime(n) }))
    .filter((d) => d.t != null)
    .sort((a, b) => b.t - a.t || b.n.localeCompare(a.n))
  const seen = new Set()
  const heads = new Map()
  for (const d of dumps.slice(0, LIMITS.candidates)) {
    const r = readDump(path.join(dir, d.n))
    if (!r) continue
    const s8 = dumpSession(d.n, F)
    const pid = num(r.doc.pid)
    const recorded = epoch(r.doc.processStartMs)
    if (wasAnswered(idx, s8, pid, recorded)) {
      claim(path.join(dir, `${d.n}${MARKER}`))
      continue
    }
    const key = processMarker(F, s8, pid, recorded)
    if (seen.has(key)) continue
    seen.add(key)
    // Its process kept a trail here (a trail's name carries its pid, its start record its
    // start): the trail tells it, running or not.
    if (validPid(pid) && keptTrail(dir, idx, s8, pid, recorded, heads)) continue
    const state = processState(pid, recorded)
    if (state === 'own' || state === 'running') continue
    const c = claim(path.join(dir, key))
    if (c.taken) continue
    const up = num(r.doc.process?.uptimeSeconds)
    const estimatedStartMs = up == null ? null : r.time - up * 1000
    return answer(
      dir,
      null,
      { pid, processStartMs: recorded, estimatedStartMs, sessionId: r.doc.sessionId, dumpName: d.n },
      null,
      names,
      'pid',
      c.error ?? null,
      bundleBase,
      contract,
    )
  }
  return null
}

function answer(dir, trailName, start, tailRead, names, liveBy, markError, bundleBase, contract) {
  const file = trailName == null ? null : path.join(dir, trailName)
  const tail = tailRead ?? { records: [] }
  const records = []
  if (start && file != null) records.push(start)
  for (const r of tail.records ?? []) if (r !== start && !(r.type === 'start' && start && r.epochMs === start.epochMs)) records.push(r)
  const pid = num(start?.pid) ?? num(records.find((r) => num(r.pid) != null)?.pid)
  const startMs = epoch(start?.processStartMs)
  const firstMs = records.length ? records.reduce((m, r) => Math.min(m, r.epochMs), Infinity) : null
  const lastMs = records.length ? records.reduce((m, r) => Math.max(m, r.epochMs), -Infinity) : null
  // The usual start: the last run exited cleanly, as its exit record tells (lib/rules/ending.js,
  // the verdict's own test), and nothing else is loaded or read.
  if (file != null && cleanEnd(records.at(-1))) {
    const last = records.at(-1)
    return {
      outcome: 'clean exit',
      died: false,
      at: new Date(last.epochMs).toISOString(),
      pid,
      sessionId: typeof start?.sessionId === 'string' && /^[\x20-\x7e]{1,64}$/.test(start.sessionId) ? start.sessionId : null,
      cause: null,
      evidence: "the recorder's exit record",
      growth: null,
      site: null,
      blockedIn: null,
      directory: path.resolve(dir),
      files: [trailName],
      bundleCommand: null,
      liveness: liveBy,
      trail: true,
      trailCut: tail.cut === true,
      filesCut: false,
      problem: markError,
      line: null,
    }
  }
  // The process's dumps: its session's names, from its start to a minute past its last record.
  const session8 = trailName != null ? trailSession(trailName, contract.files) : dumpSession(start.dumpName, contract.files)
  const from = (startMs ?? start?.estimatedStartMs ?? firstMs ?? 0) - 2000
  const to = file == null ? nameTime(start.dumpName) : (lastMs ?? Date.now()) + 60_000
  const candidates = names
    .filter((n) => READABLE_DUMP_NAME.test(n) && !UNPRINTABLE.test(n) && n.startsWith(`${contract.files.dumpPrefix}${session8}-`))
    .map((n) => ({ n, t: nameTime(n) }))
    .filter((d) => d.t != null && d.t >= from && d.t <= to)
    .sort((a, b) => a.t - b.t || a.n.localeCompare(b.n))
  // Its dumps: those of its session in its lifetime whose pid and recorded start are its
  // (the first KiB of each, the newest LIMITS.evidence), of any size; a process that kept no
  // trail and recorded no pid has the dump it was found by.
  const filesCut = pid != null && candidates.length > LIMITS.evidence
  const own =
    pid == null
      ? candidates.filter((d) => file == null && d.n === start.dumpName).map((d) => d.n)
      : candidates
          .slice(-LIMITS.evidence)
          .filter((d) => sameProcess(identityOf(path.join(dir, d.n)), pid, startMs))
          .map((d) => d.n)
  // Its first and last are read whole (growth and which code grew need two).
  const pick = own.length <= LIMITS.dumps ? own : [own[0], ...own.slice(1 - LIMITS.dumps)]
  const dumps = []
  for (const n of pick) {
    const r = readDump(path.join(dir, n))
    if (r) dumps.push(r)
  }
  const evidence = [
    ...(trailName != null && names.includes(`${trailName}${contract.files.rotatedSuffix}`) ? [`${trailName}${contract.files.rotatedSuffix}`] : []),
    ...(trailName != null ? [trailName] : []),
    ...own,
  ]
  // Its dumps are marked answered, so that later starts skip them unread.
  for (const n of own) claim(path.join(dir, `${n}${MARKER}`))
  const p = {
    pid,
    startMs: startMs ?? start?.estimatedStartMs ?? null,
    startKnown: startMs != null,
    sessions: new Set(typeof start?.sessionId === 'string' ? [start.sessionId] : []),
    records,
    dumps,
    recorderFiles: new Set(file == null ? [] : [file]),
    first: firstMs,
    last: lastMs,
    intervalMs: num(start?.intervalMs) ?? 1000,
  }
  const described = require('./verdict').describeProcess(p, new Set(tail.torn ? [file] : []), dumps)
  const v = described.verdict
  const top = v.growth.bySite?.groups?.[0]
  const stall = v.stalls.at(-1)?.blocking
  const { placeOf } = require('../../rules/frames')
  const base = bundleBase && !UNPRINTABLE.test(bundleBase) ? bundleBase : 'npx memory-diagnostics-dumper bundle'
  // The process by its pid and start, so that bundle never takes another process with its pid.
  const which = pid != null ? ` --pid ${pid}${startMs != null ? `@${Math.round(startMs)}` : ''}` : ''
  const result = {
    outcome: v.outcome,
    died: v.outcome === 'crashed',
    at: v.at && v.at !== '?' ? v.at : null,
    pid,
    sessionId: typeof start?.sessionId === 'string' ? values().clean(start.sessionId, 64) : null,
    cause: v.cause ? { kind: v.cause.kind, confirmed: v.cause.confirmed === true, text: v.cause.text } : null,
    evidence: v.evidence,
    growth: v.growth.key ? { kind: v.growth.kind, key: v.growth.key, bytes: v.growth.bytes } : null,
    site: top ? { function: top.blame.function, place: placeOf(top.blame), bytes: top.bytes, share: top.share } : null,
    blockedIn: stall ? { function: stall.function, place: placeOf(stall) } : null,
    directory: path.resolve(dir),
    files: evidence,
    bundleCommand: `${base} ${dirWord(path.resolve(dir))}${which}`,
    // How the process was told from a running one: its trail's lock, or its pid and start
    // (the JS fallback, and a process that kept no trail).
    liveness: liveBy,
    trail: file != null,
    // What the tail held: the verdict's growth covers the approach to the end, not the whole run.
    trailCut: tail.cut === true,
    // More dumps of its session in its lifetime than were looked at: `files` has the newest.
    filesCut,
    problem: markError,
  }
  result.line = lineOf(result)
  return result
}

module.exports = { LIMITS, previousRun }
