'use strict'
// Reading a directory's files without trusting them (sizes, kinds, symlinks, partial
// lines), and grouping trails and dumps by process.

const fs = require('node:fs')
const path = require('node:path')
const { readRegular: readFile, reason } = require('../files')
const { MAX_DEPTH, boundArrays, cutsText, parseJson } = require('../json')
const { schema, validate } = require('./schema')
const { LIMITS, SAME_RECORDED_START_MS, SAME_START_MS, clean, num, sizeText, timeOf } = require('./values')

/** A value from a file described, never quoted: its type, and a string's length. */
const described = (v) =>
  typeof v === 'string'
    ? `a string of ${v.length} characters`
    : v === null
      ? 'null'
      : Array.isArray(v)
        ? `an array of ${v.length}`
        : typeof v === 'object'
          ? 'an object'
          : typeof v
const CONTRACT = require('../../contract.json')
const KNOWN_SCHEMA_VERSION = CONTRACT.schemaVersion
// Any dump or recorder name, as other versions of the writer spelled them (lib/rules/names.js).
const { READABLE_DUMP_NAME: DUMP_NAME, READABLE_RECORDER_NAME: RECORDER_NAME } = require('../../rules/names')

class UsageError extends Error {}

/** Expands the arguments into files: directories give their dump and recorder files. */
function collect(args) {
  const files = []
  const notes = []
  for (const a of args) {
    // Entries already read (a bundle's, or the bundle command's own): `{ path, text }`.
    if (a && typeof a === 'object') {
      files.push(a)
      continue
    }
    let st
    try {
      st = fs.statSync(a)
    } catch (e) {
      files.push({ path: a, error: `cannot read: ${reason(e)}` })
      continue
    }
    if (st.isDirectory()) {
      let inside
      try {
        // As bytes: a name that is not UTF-8 would be decoded with U+FFFD and then not found.
        inside = []
        for (const raw of fs.readdirSync(a, { encoding: 'buffer' })) {
          const f = raw.toString('utf8')
          if (!DUMP_NAME.test(f) && !RECORDER_NAME.test(f)) continue
          if (Buffer.from(f, 'utf8').equals(raw)) inside.push(f)
          else files.push({ path: path.join(a, f), error: 'skipped: its name is not UTF-8' })
        }
      } catch (e) {
        files.push({ path: a, error: `cannot read: ${reason(e)}` })
        continue
      }
      if (!inside.length) files.push({ path: a, error: 'no dump or recorder files in this directory', empty: true })
      inside.sort()
      if (inside.length > LIMITS.files) {
        notes.push(`${a}: ${inside.length} files; only the first ${LIMITS.files} were read`)
        inside = inside.slice(0, LIMITS.files)
      }
      for (const f of inside) files.push({ path: path.join(a, f) })
    } else if (/\.zip$/i.test(a) || require('../zip/read.js').looksLikeBundle(a)) {
      // A bundle (memory-diagnostics-dumper bundle) is read as the directory it came from.
      const b = require('../zip/read.js').readBundle(a)
      if (b.error) files.push({ path: a, error: b.error })
      else {
        for (const e of b.entries) files.push(e)
        for (const n of b.notes) notes.push(n)
      }
    } else files.push({ path: a })
  }
  return { files, notes }
}

/**
 * A regular file of at most `limit` bytes as text (lib/cli/files.js: never a link, a FIFO or
 * a device, never blocking); a larger one is named with its size and not read, and so is one
 * that does not fit in what is left of the run's `budget` (`{ left }` bytes, LIMITS.totalBytes).
 */
function readRegular(file, limit, budget) {
  const r = readFile(file, Math.min(limit, budget.left))
  if (r.tooLarge != null) {
    return {
      error:
        r.tooLarge > limit
          ? `skipped: ${sizeText(r.tooLarge)} is over this reader's ${sizeText(limit)} limit for this kind of file`
          : `skipped: it would pass the ${sizeText(LIMITS.totalBytes)} this reader reads in one run (files are read in name order)`,
    }
  }
  if (r.error) return r
  budget.left -= r.data.length
  return { text: r.data.toString('utf8') }
}

/** A dump, from `text` when it was read already (a bundle's entry), else from `file` within `budget`. */
function readDump(file, text, budget) {
  const r = text != null ? { text } : readRegular(file, LIMITS.dumpBytes, budget)
  if (r.error) return r
  if (!r.text.trim()) return { error: 'empty file' }
  // Bounded in depth before the schema walks it; an error gives a byte, never the text.
  const parsed = parseJson(r.text, MAX_DEPTH, LIMITS.dumpValues)
  if (parsed.error)
    return {
      error: parsed.kind === 'depth' || parsed.kind === 'values' ? `skipped: ${parsed.error}` : `not complete JSON (truncated or corrupt): ${parsed.error}`,
    }
  const doc = parsed.value
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !('schemaVersion' in doc) || !('atTrigger' in doc)) {
    return { error: 'JSON, but not a memory-diagnostics-dumper dump (no schemaVersion/atTrigger)' }
  }
  if (doc.schemaVersion !== KNOWN_SCHEMA_VERSION) {
    const v = doc.schemaVersion
    return {
      error:
        typeof v === 'number' && v > KNOWN_SCHEMA_VERSION
          ? `schemaVersion ${clean(String(v), 20)} is newer than this reader (${KNOWN_SCHEMA_VERSION}); upgrade memory-diagnostics-dumper to read it`
          : `unknown schemaVersion: ${typeof v === 'number' ? clean(v, 20) : described(v)} (this reader knows ${KNOWN_SCHEMA_VERSION})`,
    }
  }
  // Arrays bounded before anything walks them (LIMITS.arrayItems).
  const cuts = boundArrays(doc, LIMITS.arrayItems)
  // Readers accept fields they do not know (docs/schema.md, Versioning).
  const errors = validate(schema(), doc, schema(), '', { lenient: true })
  const schemaError = errors.length
    ? `does not match schema version 1: ${errors
        .slice(0, 3)
        .map((e) => clean(e, 160))
        .join('; ')}${errors.length > 3 ? ` (+${errors.length - 3} more)` : ''}`
    : null
  const error = [cuts.length ? cutsText(cuts.slice(0, 3), LIMITS.arrayItems) : null, schemaError].filter(Boolean).join('; ') || null
  // A damaged document still counts when it says who wrote it and when.
  const usable = num(doc.pid) != null && typeof doc.timestamp === 'string' && timeOf(doc.timestamp) != null
  return { doc: usable ? doc : undefined, error }
}

/** Samples kept at full resolution at the end of a thinned trail (the approach to the death). */
const TAIL_SAMPLES = 20

/**
 * The JSON records of a trail's text, one a line, at most about `max` of them kept whatever
 * the text holds: past `max`, samples are thinned to one in 2, 4, … (re-thinned as they come,
 * so memory stays at `max`), and the last TAIL_SAMPLES samples and the last other record (an
 * exit) are always kept; other records past a quarter of `max` are dropped. Lines are read in
 * place, never split into an array. `{ records, bad, lines, every, torn }`: `records` in line
 * order, `bad` lines that are not JSON objects (a torn last line not counted but `torn`).
 */
function trailRecords(text, max) {
  let kept = []
  let every = 1
  let samples = 0
  let others = 0
  let bad = 0
  let lines = 0
  let lastOther = null
  const tail = []
  let at = 0
  let torn = false
  while (at < text.length) {
    const end = text.indexOf('\n', at)
    if (end < 0) {
      // The last line has no newline: a write the process did not finish.
      torn = true
      break
    }
    const l = end - at <= LIMITS.recorderLineBytes ? text.slice(at, end) : null
    at = end + 1
    if (l === '') continue
    const n = lines++
    const rec = l == null ? null : parseJson(l).value
    if (!rec || typeof rec !== 'object' || Array.isArray(rec)) {
      bad++
      continue
    }
    // A line long enough to hold more than arrayItems entries has its arrays bounded too.
    if (l.length > 2 * LIMITS.arrayItems) boundArrays(rec, LIMITS.arrayItems)
    const entry = { n, rec }
    if (rec.type !== 'sample') {
      lastOther = entry
      if (others++ < max / 4) kept.push(entry)
      continue
    }
    tail.push(entry)
    if (tail.length > TAIL_SAMPLES) tail.shift()
    entry.index = samples
    if (samples++ % every === 0) kept.push(entry)
    if (kept.length > max) {
      every *= 2
      kept = kept.filter((e) => e.rec.type !== 'sample' || e.index % every === 0)
    }
  }
  // The last samples and the last other record, where thinning left them out.
  const inKept = new Set(kept)
  for (const e of [...tail, lastOther]) if (e && !inKept.has(e)) kept.push(e)
  kept.sort((a, b) => a.n - b.n)
  return { records: kept.map((e) => e.rec), bad, lines, every, dropped: Math.max(0, others - Math.floor(max / 4)), torn }
}

function readRecorder(file, text, budget) {
  if (budget.records <= 0)
    return { error: `skipped: this reader keeps at most ${LIMITS.runRecords} recorder records in one run (files are read in name order)` }
  const r = text != null ? { text } : readRegular(file, LIMITS.recorderBytes, budget)
  if (r.error) return r
  const t = trailRecords(r.text, Math.min(LIMITS.recorderRecords, budget.records))
  budget.records -= t.records.length
  const records = []
  let untimed = 0
  for (const rec of t.records) {
    const ms = timeOf(rec.epochMs) ?? timeOf(rec.t)
    if (ms == null) {
      untimed++
      continue
    }
    records.push({ ...rec, epochMs: ms })
  }
  const errors = []
  // Nothing readable: an empty file, or one whose only line is torn, or one that is not JSON.
  if (!records.length && !t.bad && !untimed) return { error: t.lines || t.torn ? 'unreadable: no complete JSON record in it' : 'unreadable: empty file' }
  if (t.bad) errors.push(`${t.bad} line(s) are not JSON records (only a torn last line is expected)`)
  if (untimed) errors.push(`${untimed} record(s) have no readable time and were skipped`)
  if (!records.length) return { error: `unreadable: ${errors.join('; ')}` }
  // A bound applied to a file that is fine: a note, not a problem (the exit code stays).
  const note =
    t.every > 1 || t.dropped
      ? `${t.lines} records: more than the ${LIMITS.recorderRecords} this reader keeps of one file; samples thinned to one in ${t.every} (the last ${TAIL_SAMPLES} kept)${t.dropped ? `, ${t.dropped} other records dropped` : ''}`
      : null
  return { records, torn: t.torn, error: errors.join('; ') || null, note }
}

// ---- grouping by process ---------------------------------------------------------------------

/**
 * Splits recorder streams into segments, one per `start` record. A rotated `.jsonl.1` is read
 * before its `.jsonl`, so records that follow a rotation without a new start record stay with
 * the process that wrote them.
 */
function segments(recorderFiles) {
  const streams = new Map()
  for (const f of recorderFiles) {
    const base = f.file.replace(/\.1$/, '')
    if (!streams.has(base)) streams.set(base, [])
    streams.get(base).push(f)
  }
  const out = []
  for (const [base, files] of streams) {
    files.sort((a, b) => (a.file.endsWith('.1') ? -1 : 0) - (b.file.endsWith('.1') ? -1 : 0))
    let cur = null
    for (const f of files) {
      for (const rec of f.records) {
        if (rec.type === 'start') {
          cur = {
            pid: num(rec.pid),
            startMs: timeOf(rec.processStartMs),
            sessionId: typeof rec.sessionId === 'string' ? rec.sessionId : null,
            intervalMs: num(rec.intervalMs) ?? 1000,
            records: [],
            files: new Set(),
          }
          out.push(cur)
        } else if (!cur) {
          cur = {
            pid: null,
            startMs: null,
            sessionId: path.basename(base).replace(/^recorder-|\.jsonl$/g, ''),
            intervalMs: 1000,
            records: [],
            files: new Set(),
          }
          out.push(cur)
        }
        cur.records.push(rec)
        cur.files.add(f.file)
      }
      if (!f.records.length) {
        cur ??= { pid: null, startMs: null, sessionId: null, intervalMs: 1000, records: [], files: new Set() }
        if (!out.includes(cur)) out.push(cur)
        cur.files.add(f.file)
      }
    }
  }
  for (const s of out) {
    s.first = s.records.length ? s.records.reduce((m, r) => Math.min(m, r.epochMs), Infinity) : null
    s.last = s.records.length ? s.records.reduce((m, r) => Math.max(m, r.epochMs), -Infinity) : null
  }
  return out
}

function newProcess(pid, startMs, startKnown) {
  return { pid, startMs, startKnown, sessions: new Set(), records: [], dumps: [], recorderFiles: new Set(), first: null, last: null, intervalMs: null }
}

function widen(p, t) {
  if (t == null) return
  p.first = p.first == null ? t : Math.min(p.first, t)
  p.last = p.last == null ? t : Math.max(p.last, t)
}

/**
 * Groups trails and dumps by process: (pid, processStartMs) when the writer records the start
 * time; otherwise a dump's start is estimated as its timestamp minus its uptime, and recorder
 * segments of one pid join when they overlap or continue each other within one interval.
 */
function groupByProcess(segs, dumps) {
  const procs = []
  for (const s of segs.sort((a, b) => (a.first ?? 0) - (b.first ?? 0))) {
    let p = null
    if (s.pid != null && s.startMs != null) {
      p = procs.find((q) => q.pid === s.pid && q.startKnown && Math.abs(q.startMs - s.startMs) <= SAME_RECORDED_START_MS)
    } else if (s.pid != null && s.first != null) {
      const gap = 1.5 * Math.max(s.intervalMs, 100) + 50
      p = procs.find((q) => q.pid === s.pid && !q.startKnown && q.last != null && s.first <= q.last + gap && (s.last ?? s.first) >= q.first - gap)
    }
    if (!p) {
      p = newProcess(s.pid, s.startMs, s.startMs != null)
      procs.push(p)
    }
    if (s.sessionId != null) p.sessions.add(s.sessionId)
    for (const f of s.files) p.recorderFiles.add(f)
    // A loop, not push(...records): a spread of a trail's ~10^5 records overflows the stack.
    for (const r of s.records) p.records.push(r)
    p.intervalMs = Math.max(p.intervalMs ?? 0, s.intervalMs)
    widen(p, s.first)
    widen(p, s.last)
  }
  const estimated = (d) => {
    const up = num(d.doc.process?.uptimeSeconds)
    return up == null ? null : d.time - up * 1000
  }
  // Dumps that know their process's start first, then those with an estimate, then the rest.
  const rank = (d) => (timeOf(d.doc.processStartMs) != null ? 0 : estimated(d) != null ? 1 : 2)
  for (const d of [...dumps].sort((a, b) => rank(a) - rank(b) || a.time - b.time)) {
    const pid = num(d.doc.pid)
    const known = timeOf(d.doc.processStartMs)
    const est = known ?? estimated(d)
    const slack = (q) => 1.5 * (q.intervalMs ?? 1000) + SAME_START_MS
    const covers = (q) => q.first != null && d.time >= q.first - SAME_START_MS && d.time <= q.last + slack(q)
    let p
    if (known != null) p = procs.find((q) => q.pid === pid && q.startKnown && Math.abs(q.startMs - known) <= SAME_RECORDED_START_MS)
    else {
      p =
        (est != null && procs.find((q) => q.pid === pid && q.startMs != null && Math.abs(q.startMs - est) <= SAME_START_MS)) ||
        procs.find(
          (q) =>
            q.pid === pid && !q.startKnown && q.records.length && covers(q) && (est == null || q.startMs == null || Math.abs(q.startMs - est) <= SAME_START_MS),
        ) ||
        (est == null && procs.find((q) => q.pid === pid && covers(q)))
    }
    if (!p) {
      p = newProcess(pid, est, known != null)
      procs.push(p)
    }
    if (p.startMs == null && est != null) p.startMs = est
    if (typeof d.doc.sessionId === 'string') p.sessions.add(d.doc.sessionId)
    p.dumps.push(d)
    widen(p, d.time)
  }
  return procs
}

module.exports = { TAIL_SAMPLES, trailRecords, RECORDER_NAME, UsageError, collect, groupByProcess, readDump, readRecorder, reason, segments }
