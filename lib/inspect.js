'use strict'
const { fixed } = require('./format')
// `memory-diagnostics-dumper inspect`: turns dump files and recorder files into an answer
// for the maintainer who receives them. Plain Node, no dependencies, works without the
// native addon. See docs/inspect.md.

const fs = require('node:fs')
const path = require('node:path')

const CONTRACT = require('./contract.json')
const KNOWN_SCHEMA_VERSION = CONTRACT.schemaVersion
// Any dump or recorder name, as other versions of the writer spelled them (lib/names.js).
const { READABLE_DUMP_NAME: DUMP_NAME, READABLE_RECORDER_NAME: RECORDER_NAME } = require('./names')
const MIB = 2 ** 20
const GIB = 2 ** 30

/**
 * What this reader is willing to read, so that a hostile or damaged file cannot exhaust its
 * memory or its time. Each limit is far above what the writer produces.
 */
const LIMITS = {
  /** A dump is 10-50 KiB; the schema's own bounds keep it under 2 MiB. */
  dumpBytes: 8 * MIB,
  /** The writer rotates a recorder file at 4 MiB. */
  recorderBytes: 64 * MIB,
  /** A recorder line is about 350 bytes. */
  recorderLineBytes: 64 * 1024,
  /** Files read per run; the rest are named as not read. */
  files: 10_000,
  /** Process panels drawn in the timeline; all of them are in the text and JSON output. */
  processesDrawn: 8,
  /** Characters of any text from a file that is shown (ids, triggers, reasons). */
  textChars: 80,
}

/** Two start times of one process, however measured, are this close (ms). */
const SAME_START_MS = 2000
/** At the last sample, usage at this share of a limit makes that limit the likely killer. */
const DEATH_NEAR_LIMIT = 0.9
/** V8 gives up with heap used near 0.7-0.8 of its limit (the limit counts the young generation). */
const DEATH_NEAR_HEAP_LIMIT = 0.7
/**
 * The most the heap limit reserves for the young generation: 3 semi-spaces of 64 MiB on
 * Node 24 (16 MiB before). With a small old space that is most of the limit: for
 * --max-old-space-size=128 the limit is 176 MiB on Node 20 and 22 but 320 MiB on Node 24,
 * where V8 gives up at 0.4 of it. So a heap within 90% of the limit less this reservation
 * is near its end too.
 */
const YOUNG_GENERATION_MAX = 192 * MIB
const nearHeapLimit = (used, limit) => used >= DEATH_NEAR_HEAP_LIMIT * limit || (limit - YOUNG_GENERATION_MAX >= 64 * MIB && used >= 0.9 * (limit - YOUNG_GENERATION_MAX))

// ---- a JSON Schema validator for the subset docs/dump.schema.json uses ------------------

function typeOf(v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function codePoints(s, max) {
  // Counting stops past max: a long string is not copied into an array of characters.
  if (s.length > 2 * max) return s.length
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xd800 || c > 0xdbff || i + 1 >= s.length) n++
  }
  return n
}

/**
 * Validates `value` against `schema`. With `{ lenient: true }` (how readers read) properties
 * the schema does not know are accepted: a newer writer of the same major version adds fields.
 */
/** Appends `more` to `list` without spreading it (a spread of a large array overflows the stack). */
function append(list, more) {
  for (const x of more) list.push(x)
}

function validate(schema, value, root = schema, at = '', opts = {}) {
  const errors = []
  const fail = (msg) => errors.push(`${at || '/'}: ${msg}`)
  if (schema === true || schema === undefined) return errors
  if (schema.$ref) {
    const target = schema.$ref.replace(/^#\//, '').split('/').reduce((o, k) => o[k], root)
    return validate(target, value, root, at, opts)
  }
  const t = typeOf(value)
  if (schema.type) {
    const types = [].concat(schema.type)
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [`${at || '/'}: expected ${types.join(' or ')}, got ${t}`]
  }
  if ('const' in schema && value !== schema.const) fail(`expected ${JSON.stringify(schema.const)}`)
  if (schema.enum && !schema.enum.includes(value)) fail(`expected one of ${schema.enum.join(', ')}`)
  if (typeof value === 'number' && schema.minimum !== undefined && value < schema.minimum) fail(`below ${schema.minimum}`)
  if (typeof value === 'number' && schema.maximum !== undefined && value > schema.maximum) fail(`above ${schema.maximum}`)
  if (typeof value === 'string') {
    if (schema.maxLength !== undefined && codePoints(value, schema.maxLength) > schema.maxLength) fail(`longer than ${schema.maxLength}`)
    else if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) fail(`does not match ${schema.pattern}`)
  }
  if (t === 'array') {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(`more than ${schema.maxItems} items`)
    if (schema.minItems !== undefined && value.length < schema.minItems) fail(`fewer than ${schema.minItems} items`)
    if (schema.items) value.forEach((v, i) => append(errors, validate(schema.items, v, root, `${at}/${i}`, opts)))
  }
  if (t === 'object') {
    const keys = Object.keys(value)
    for (const k of schema.required ?? []) if (!(k in value)) fail(`missing ${k}`)
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) fail(`more than ${schema.maxProperties} properties`)
    for (const k of keys) {
      if (schema.propertyNames) append(errors, validate(schema.propertyNames, k, root, `${at}/${k} (name)`, opts))
      if (schema.properties && k in schema.properties) append(errors, validate(schema.properties[k], value[k], root, `${at}/${k}`, opts))
      else if (schema.additionalProperties === false) {
        if (!opts.lenient) fail(`unexpected property ${k}`)
      } else if (typeof schema.additionalProperties === 'object') append(errors, validate(schema.additionalProperties, value[k], root, `${at}/${k}`, opts))
    }
  }
  if (schema.oneOf && schema.oneOf.filter((s) => validate(s, value, root, at, opts).length === 0).length !== 1) fail('does not match exactly one alternative')
  if (schema.anyOf && !schema.anyOf.some((s) => validate(s, value, root, at, opts).length === 0)) fail('matches no alternative')
  if (schema.not && validate(schema.not, value, root, at, opts).length === 0) fail('matches a forbidden shape')
  if (schema.if) {
    const branch = validate(schema.if, value, root, at, opts).length === 0 ? schema.then : schema.else
    if (branch) append(errors, validate(branch, value, root, at, opts))
  }
  return errors
}

let schemaCache
function schema() {
  schemaCache ??= JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'docs', 'dump.schema.json'), 'utf8'))
  return schemaCache
}

// ---- safe values ----------------------------------------------------------------------------

const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null)
const obj = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v : {})
const arr = (v) => (Array.isArray(v) ? v : [])

/** Text from a file, made safe to print and to embed: control characters shown as \uXXXX, cut. */
function clean(v, max = LIMITS.textChars) {
  let s = typeof v === 'string' ? v : v == null ? '' : String(v)
  if (s.length > max) s = `${s.slice(0, max)}…`
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** Epoch ms from an ISO string or a number, or null when it is not a usable time. */
function timeOf(v) {
  const ms = typeof v === 'string' && v.length <= 40 ? Date.parse(v) : num(v)
  // Dates outside years 1970-9999 are damage, not times.
  return ms != null && Number.isFinite(ms) && ms >= 0 && ms < 253402300800000 ? ms : null
}
const iso = (ms) => (ms == null ? '?' : new Date(ms).toISOString())
const clock = (ms) => iso(ms).replace('T', ' ').replace('Z', ' UTC')

function sizeText(b) {
  if (b == null) return '?'
  const neg = b < 0 ? '-' : ''
  b = Math.abs(b)
  if (b >= 100 * GIB) return `${neg}${fixed(b / GIB, 0)} GiB`
  if (b >= 2 * GIB) return `${neg}${fixed(b / GIB, 1)} GiB`
  return `${neg}${fixed(b / MIB, 0)} MiB`
}
const mib = sizeText

// ---- reading files ----------------------------------------------------------------------

class UsageError extends Error {}

function reason(e) {
  if (e.code === 'ENOENT') return 'no such file or directory'
  if (e.code === 'EISDIR') return 'it is a directory'
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied'
  return clean(e.message, 200)
}

function kindOf(st) {
  if (st.isFIFO()) return 'a FIFO'
  if (st.isSocket()) return 'a socket'
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device'
  return 'not a regular file'
}

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
        inside = fs.readdirSync(a).filter((f) => DUMP_NAME.test(f) || RECORDER_NAME.test(f))
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
    } else if (/\.zip$/i.test(a) || require('./bundle.js').looksLikeBundle(a)) {
      // A bundle (memory-diagnostics-dumper bundle) is read as the directory it came from.
      const b = require('./bundle.js').readBundle(a)
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
 * Reads a whole regular file of at most `limit` bytes. Opening never blocks (a FIFO named
 * like a dump is seen and skipped), and the size is checked before anything is read.
 */
function readRegular(file, limit) {
  let fd
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0))
  } catch (e) {
    return { error: `cannot read: ${reason(e)}` }
  }
  try {
    const st = fs.fstatSync(fd)
    if (st.isDirectory()) return { error: 'cannot read: it is a directory' }
    if (!st.isFile()) return { error: `skipped: ${kindOf(st)}, not a regular file` }
    if (st.size > limit) return { error: `skipped: ${sizeText(st.size)} is over this reader's ${sizeText(limit)} limit for this kind of file` }
    const buf = Buffer.alloc(Math.min(st.size, limit) + 1)
    let n = 0
    for (;;) {
      const got = fs.readSync(fd, buf, n, buf.length - n, null)
      if (!got) break
      n += got
      if (n > limit) return { error: `skipped: grew over this reader's ${sizeText(limit)} limit while being read` }
    }
    return { text: buf.toString('utf8', 0, n) }
  } catch (e) {
    return { error: `cannot read: ${reason(e)}` }
  } finally {
    fs.closeSync(fd)
  }
}

function readDump(file, text) {
  const r = text != null ? { text } : readRegular(file, LIMITS.dumpBytes)
  if (r.error) return r
  if (!r.text.trim()) return { error: 'empty file' }
  let doc
  try {
    doc = JSON.parse(r.text)
  } catch (e) {
    return { error: `not complete JSON (truncated or corrupt): ${clean(e.message, 120)}` }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc) || !('schemaVersion' in doc) || !('atTrigger' in doc)) {
    return { error: 'JSON, but not a memory-diagnostics-dumper dump (no schemaVersion/atTrigger)' }
  }
  if (doc.schemaVersion !== KNOWN_SCHEMA_VERSION) {
    const v = doc.schemaVersion
    return {
      error:
        typeof v === 'number' && v > KNOWN_SCHEMA_VERSION
          ? `schemaVersion ${clean(String(v), 20)} is newer than this reader (${KNOWN_SCHEMA_VERSION}); upgrade memory-diagnostics-dumper to read it`
          : `unknown schemaVersion ${clean(JSON.stringify(v) ?? String(v), 40)} (this reader knows ${KNOWN_SCHEMA_VERSION})`,
    }
  }
  // Readers accept fields they do not know (docs/schema.md, Versioning).
  const errors = validate(schema(), doc, schema(), '', { lenient: true })
  const error = errors.length ? `does not match schema version 1: ${errors.slice(0, 3).map((e) => clean(e, 160)).join('; ')}${errors.length > 3 ? ` (+${errors.length - 3} more)` : ''}` : null
  // A damaged document still counts when it says who wrote it and when.
  const usable = num(doc.pid) != null && typeof doc.timestamp === 'string' && timeOf(doc.timestamp) != null
  return { doc: usable ? doc : undefined, error }
}

function readRecorder(file, text) {
  const r = text != null ? { text } : readRegular(file, LIMITS.recorderBytes)
  if (r.error) return r
  const lines = r.text.split('\n')
  const last = lines.pop()
  const records = []
  let bad = 0
  let untimed = 0
  for (const l of lines) {
    if (!l) continue
    let rec
    try {
      rec = l.length <= LIMITS.recorderLineBytes ? JSON.parse(l) : null
    } catch {
      rec = null
    }
    if (!rec || typeof rec !== 'object' || Array.isArray(rec)) {
      bad++
      continue
    }
    const ms = timeOf(rec.epochMs) ?? timeOf(rec.t)
    if (ms == null) {
      untimed++
      continue
    }
    records.push({ ...rec, epochMs: ms })
  }
  const errors = []
  if (bad) errors.push(`${bad} line(s) are not JSON records (only a torn last line is expected)`)
  if (untimed) errors.push(`${untimed} record(s) have no readable time and were skipped`)
  return { records, torn: Boolean(last), error: errors.join('; ') || null }
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
          cur = { pid: null, startMs: null, sessionId: path.basename(base).replace(/^recorder-|\.jsonl$/g, ''), intervalMs: 1000, records: [], files: new Set() }
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
      p = procs.find((q) => q.pid === s.pid && q.startKnown && Math.abs(q.startMs - s.startMs) <= SAME_START_MS)
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
    if (known != null) p = procs.find((q) => q.pid === pid && q.startKnown && Math.abs(q.startMs - known) <= SAME_START_MS)
    else {
      p =
        (est != null && procs.find((q) => q.pid === pid && q.startMs != null && Math.abs(q.startMs - est) <= SAME_START_MS)) ||
        procs.find((q) => q.pid === pid && !q.startKnown && q.records.length && covers(q) && (est == null || q.startMs == null || Math.abs(q.startMs - est) <= SAME_START_MS)) ||
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

// ---- the summary ------------------------------------------------------------------------

function dumpRow({ file, doc, valid, time }) {
  const at = obj(doc.atTrigger)
  const h = obj(at.v8HeapStats)
  const u = obj(at.memoryUsage)
  const status = obj(obj(doc.process).status)
  const cg = obj(doc.cgroup)
  const acc = doc.memoryAccounting && typeof doc.memoryAccounting === 'object' ? obj(doc.memoryAccounting) : null
  const m = obj(acc?.malloc)
  return {
    file,
    time: iso(time),
    epochMs: time,
    trigger: clean(doc.trigger, 20),
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
    valid,
    hostSamples: hostSamples(doc.samples),
  }
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
    cgroupUsageBytes: num(r.cgroupUsageBytes),
    cgroupLimitBytes: num(r.cgroupLimitBytes),
  }
}

function summarize(args) {
  const { files, notes } = collect(args)
  if (!files.length) throw new UsageError('no files given')
  const problems = []
  const recorderFiles = []
  const dumps = []
  for (const f of files) {
    if (f.error) {
      problems.push({ file: f.path, error: f.error, empty: f.empty })
      continue
    }
    try {
      const base = path.basename(f.path)
      if (RECORDER_NAME.test(base) || /\.jsonl(\.1)?$/.test(base)) {
        const r = readRecorder(f.path, f.text)
        if (r.error) problems.push({ file: f.path, error: r.error })
        if (r.records) recorderFiles.push({ file: f.path, records: r.records, torn: r.torn })
        continue
      }
      const r = readDump(f.path, f.text)
      if (r.error) problems.push({ file: f.path, error: r.error })
      if (r.doc) dumps.push({ file: f.path, doc: r.doc, valid: !r.error, time: timeOf(r.doc.timestamp) })
    } catch (e) {
      // The net under the net: whatever a file does, it is named and the rest is read.
      problems.push({ file: f.path, error: `could not be read: ${clean(e?.message, 160)}` })
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
  // A snapshot left pending: the process ended while it was taken. Only a confirmed rise
  // in the cgroup's OOM kills ties the death to memory; nothing else says the snapshot did it.
  for (const r of rows) {
    if (r.heapSnapshotStatus !== 'pending') continue
    r.heapSnapshot +=
      verdict.outcome === 'crashed' && verdict.cause?.kind === 'cgroupOomKill' && verdict.cause.confirmed
        ? '; the kernel OOM-killed the process meanwhile (its cgroup\'s OOM kills rose), so the snapshot\'s memory may be what killed it'
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
  if (last?.type === 'exit' && last.reason !== 'sessionReset') {
    return { outcome: 'clean exit', at: iso(last.epochMs), atMs: last.epochMs, evidence: `the recorder's exit record (${clean(last.reason, 30)})`, cause: null }
  }
  if (last?.type === 'exit') {
    return {
      outcome: 'unknown',
      at: iso(last.epochMs),
      atMs: last.epochMs,
      evidence: 'the trail ends with a session reset and the next session\'s recorder file is not here',
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
  if (lastDump) return { outcome: 'unknown', at: lastDump.time, atMs: lastDump.epochMs, evidence: 'no recorder file; the dumps alone cannot tell a crash from a clean exit', cause: null }
  return { outcome: 'unknown', at: null, atMs: null, evidence: 'nothing readable', cause: null }
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
      return { kind: 'cgroupOomKill', confirmed: true, text: `the kernel OOM-killed it: its cgroup's OOM kills went from ${before} to ${later.kills} (${path.basename(later.file)})` }
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
    return { kind: 'cgroupOomKill', confirmed: false, text: `most likely the kernel OOM killer: cgroup usage ${mib(d.cgroupUsage)} of ${mib(d.cgroupLimit)} at the last dump` }
  }
  return null
}

const { GROWTH_ADVICE, GROWTH_MIN_BYTES, growthFinding } = require('./analysis')

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
 * (lib/analysis.js, the twin of src/analysis.rs), with the span named by its dumps and samples.
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
  if (!f.kind) return { kind: null, key: null, bytes: null, byKind, advice: null, evidence: `nothing grew by ${mib(GROWTH_MIN_BYTES)} or more: ${f.listing}; ${over(points[0], points.at(-1))}` }
  return { kind: f.label, key: f.kind, bytes: f.bytes, byKind, advice: GROWTH_ADVICE[f.kind], evidence: `+${mib(f.bytes)}: ${f.detail}, ${over(f.from, f.to)}; all kinds: ${f.listing}` }
}

const signed = (b) => (b >= 0 ? `+${mib(b)}` : mib(b))

// ---- allocation sites (docs/allocation-profiles.md) -------------------------------------------

/** Growth of sampled live bytes smaller than this, all sites together, names no site. */
const SITE_GROWTH_MIN_BYTES = MIB

const frameOf = (f) => ({ function: clean(obj(f).function, 120) || '(anonymous)', script: clean(obj(f).script, 200) || '', line: num(obj(f).line), column: num(obj(f).column) })
/** Node's own code, or a frame V8 gives no script: where the blame does not stop. */
const isInternal = (f) => f.script === '' || f.script.startsWith('node:') || f.script.startsWith('internal/')
const placeOf = (f) => `${f.script.startsWith('node:') ? f.script : path.basename(f.script)}${f.line != null ? `:${f.line}` : ''}`

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
    const leaf = JSON.stringify([s.function, s.script === '' ? 'V8 built-in' : s.script.startsWith('node:') ? s.script : path.basename(s.script)])
    g.leaves.set(leaf, (g.leaves.get(leaf) ?? 0) + delta)
    groups.set(key, g)
  }
  if (total < SITE_GROWTH_MIN_BYTES) return null
  // The three largest, and none under 1% of the growth.
  const top = [...groups.values()].sort((x, y) => y.bytes - x.bytes).filter((g, i) => i === 0 || g.bytes >= total / 100).slice(0, 3)
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
    })),
  }
}

/** "68% PerformanceMeasure / PerformanceMark (node:internal/perf/usertiming) ← renderFrame (app.js:12)" */
function siteGroupText(g) {
  const blame = `${g.blame.function} (${placeOf(g.blame)})`
  // The functions that allocated on the blamed one's behalf, by script, most bytes first.
  const byScript = new Map()
  for (const [fn, script] of g.allocating.slice(0, 4)) {
    if (fn === g.blame.function && script === (g.blame.script.startsWith('node:') ? g.blame.script : path.basename(g.blame.script))) continue
    byScript.set(script, [...(byScript.get(script) ?? []), fn])
  }
  const pct = `${Math.round(g.share * 100)}%`
  if (byScript.size === 0) return `${pct} ${blame}`
  const names = [...byScript.entries()].map(([script, fns]) => `${fns.join(' / ')} (${script})`).join(', ')
  return `${pct} ${names} ← ${blame}`
}

// ---- text output ------------------------------------------------------------------------------

function table(rows) {
  const widths = rows[0].map((_, i) => rows.reduce((m, r) => Math.max(m, String(r[i]).length), 0))
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd()).join('\n')
}

function processTitle(p) {
  const sessions = p.sessionIds.length ? `Session${p.sessionIds.length > 1 ? 's' : ''} ${p.sessionIds.join(', ')}` : 'Session ?'
  const start = p.processStart ? `, started ${clock(p.processStartMs)}${p.processStartEstimated ? ' (estimated)' : ''}` : ''
  return `${sessions}, process ${p.pid ?? '?'}${start}`
}

function verdictLine(v) {
  return `Verdict: ${v.outcome}${v.at ? ` at ${v.at}` : ''}${v.cause ? `, ${v.cause.text}` : ''} (${v.evidence}).`
}

function growthLine(g) {
  if (!g) return null
  // Which code: only for growth that was found, from the dumps' allocation profiles.
  const sites = g.kind && g.bySite ? `; by allocation site (sampled live bytes ${signed(g.bySite.bytes)}, dump #${g.bySite.fromDump ?? '?'} → #${g.bySite.toDump ?? '?'}): ${g.bySite.groups.map(siteGroupText).join('; ')}` : ''
  return g.kind ? `Most likely growth: ${g.kind} (${g.evidence})${sites}.` : `Growth: none found (${g.evidence}).`
}

function dumpTable(p) {
  return [
    ['time (UTC)', 'trigger', 'heap used / limit', 'RSS / effective limit', 'cgroup OOM kills', 'top risks', 'complete'],
    ...p.dumps.map((d) => [
      d.time.replace('T', ' ').replace('Z', ''),
      `#${d.dumpNumber ?? '?'} ${d.trigger}`,
      `${mib(d.heapUsed)} / ${mib(d.heapLimit)}`,
      `${mib(d.rss)} / ${d.effectiveLimit ? `${mib(d.effectiveLimit)} (${d.limitSource})` : '?'}`,
      d.cgroupOomKills ?? '-',
      d.topRisks.join(', ') || '-',
      d.complete ? 'yes' : 'phase 1 only',
    ]),
  ]
}

function text(summary) {
  const lines = []
  for (const p of summary.processes) {
    lines.push(processTitle(p))
    if (p.dumps.length) lines.push(table(dumpTable(p)).replace(/^/gm, '  '))
    else lines.push('  no dumps')
    for (const d of p.dumps) if (d.hostSamples) lines.push(`  #${d.dumpNumber} ${d.hostSamples}`)
    const counted = p.dumps.filter((d) => d.accounting).at(-1)
    if (counted) lines.push(`  Resident memory at #${counted.dumpNumber ?? '?'}: ${counted.accounting}.`)
    for (const d of p.dumps) if (d.heapSnapshot) lines.push(`  Heap snapshot after #${d.dumpNumber ?? '?'}: ${d.heapSnapshot}.`)
    if (p.recorder.samples) lines.push(`  Recorder: ${p.recorder.samples} samples in ${p.recorder.files.map((f) => path.basename(f.file)).join(', ')}`)
    lines.push(`  ${verdictLine(p.verdict)}`)
    const g = growthLine(p.verdict.growth)
    if (g) lines.push(`  ${g}`)
    if (p.verdict.growth?.advice) lines.push(`  Look next at: ${p.verdict.growth.advice}`)
    lines.push('')
  }
  for (const n of summary.notes) lines.push(clean(n, 400))
  for (const p of summary.problems) lines.push(`${clean(p.file, 400)}: ${p.error}`)
  return lines.join('\n')
}

// ---- the timeline picture -----------------------------------------------------------------------

/** Escapes for XML and HTML; text from files has been through clean() already or goes through it here. */
function esc(s, max = 400) {
  return clean(String(s), max).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])
}

/**
 * A round step and the axis top it gives, for 4 to 7 ticks: 1, 2 or 5 times a power of ten of
 * MiB below 2 GiB, of GiB above (so ticks read 0, 50, 100, 150 MiB or 0, 2, 4, 6 GiB).
 */
function niceScale(max) {
  const unit = max >= 2 * GIB ? GIB : MIB
  const raw = max / unit / 5
  const pow = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)))
  const m = [1, 2, 5, 10].find((k) => k * pow >= raw)
  const step = Math.max(m * pow, unit === MIB ? 1 : 0.5) * unit
  return { step, top: Math.max(step, Math.ceil((max * 1.02) / step) * step) }
}

function formatMib(b) {
  if (b >= 2 * GIB) return `${+fixed(b / GIB, 1)} GiB`
  return `${Math.round(b / MIB)} MiB`
}

const TIME_STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400].map((s) => s * 1000)

/** Round time ticks (at most 8) labelled as UTC clock times. */
function timeTicks(t0, t1) {
  const span = Math.max(t1 - t0, 1)
  const step = TIME_STEPS.find((s) => span / s <= 7) ?? Math.ceil(span / 7 / 86400000) * 86400000
  const ticks = []
  for (let t = Math.ceil(t0 / step) * step; t <= t1 && ticks.length < 9; t += step) {
    const s = iso(t).slice(11, 23)
    ticks.push({ t, label: step < 1000 ? s.slice(0, 10) : step < 60000 ? s.slice(0, 8) : s.slice(0, 5) })
  }
  return ticks
}

/** Rough width of sans-serif text at 12 px, to keep labels inside the frame. */
const textWidth = (s, size = 12) => String(s).length * size * 0.53

/** At most `n` points per series: the first, the last and each pixel column's min and max. */
function decimate(pts, key, x, n) {
  if (pts.length <= n) return pts
  const buckets = new Map()
  for (const p of pts) {
    const b = Math.round(x(p.epochMs))
    const cur = buckets.get(b)
    if (!cur) buckets.set(b, { lo: p, hi: p })
    else {
      if (p[key] < cur.lo[key]) cur.lo = p
      if (p[key] > cur.hi[key]) cur.hi = p
    }
  }
  const out = []
  for (const { lo, hi } of buckets.values()) for (const q of lo === hi ? [lo] : lo.epochMs <= hi.epochMs ? [lo, hi] : [hi, lo]) out.push(q)
  return out
}

const SERIES = [
  { key: 'rssBytes', label: 'RSS', color: '#d62728' },
  { key: 'heapUsedBytes', label: 'JS heap used', color: '#1f77b4' },
  { key: 'heapLimitBytes', label: 'V8 heap limit', color: '#1f77b4', limit: true, of: 'heapUsedBytes', ofLabel: 'JS heap used' },
  { key: 'cgroupUsageBytes', label: 'cgroup usage', color: '#8c564b', needs: 'cgroupLimitBytes' },
  { key: 'cgroupLimitBytes', label: 'cgroup limit (the kernel OOM-kills past it)', color: '#8c564b', limit: true, of: 'cgroupUsageBytes', ofLabel: 'cgroup usage' },
]

/** A limit is drawn as a line, and counted in the scale, when within this factor of the data. */
const LIMIT_IN_RANGE = 1.5
const W = 1000
const PANEL_H = 360

/** One process's panel: its series, its limits, its dumps and how it ended. */
function panel(p, top) {
  const out = []
  const M = { l: 72, r: 16, b: 46 }
  // Points: the recorder's samples, or without them the dumps themselves.
  let points = p.samples
  if (!points.length) {
    points = p.dumps
      .filter((d) => d.epochMs != null)
      .map((d) => ({ epochMs: d.epochMs, rssBytes: d.rss, heapUsedBytes: d.heapUsed, heapLimitBytes: d.heapLimit, cgroupUsageBytes: d.cgroupUsage, cgroupLimitBytes: d.cgroupLimit }))
  }
  const dumpMarks = p.dumps.filter((d) => d.epochMs != null)
  const v = p.verdict
  const end = v.atMs != null && (v.outcome === 'crashed' || v.outcome === 'clean exit') ? { t: v.atMs, died: v.outcome === 'crashed' } : null
  let t0 = Infinity
  let t1 = -Infinity
  for (const t of [...points.map((q) => q.epochMs), ...dumpMarks.map((d) => d.epochMs), ...(end ? [end.t] : [])]) {
    if (t < t0) t0 = t
    if (t > t1) t1 = t
  }
  if (!Number.isFinite(t0)) {
    t0 = 0
    t1 = 1
  }
  const pad = Math.max((t1 - t0) * 0.03, 50)
  const [x0, x1] = [t0 - pad, t1 + pad]
  // Which series this process has: cgroup usage only where a cgroup limit applies to it.
  const has = (key) => points.some((q) => q[key] != null)
  const series = SERIES.filter((s) => has(s.key) && (!s.needs || has(s.needs)))
  let dataMax = 1
  for (const s of series.filter((s) => !s.limit)) for (const q of points) if (q[s.key] != null && q[s.key] > dataMax) dataMax = q[s.key]
  // A limit is a line when the series it applies to comes near it; otherwise the legend says it.
  const seriesMax = (key) => points.reduce((m, q) => (q[key] != null && q[key] > m ? q[key] : m), 0)
  for (const s of series.filter((s) => s.limit)) {
    s.max = seriesMax(s.key)
    s.inRange = s.max <= seriesMax(s.of) * LIMIT_IN_RANGE && s.max <= dataMax * LIMIT_IN_RANGE
  }
  const cgroupDrawn = series.some((s) => s.key === 'cgroupLimitBytes' && s.inRange)
  // The limit that is not a series: physical memory, when there is no cgroup limit.
  const physical = p.dumps.find((d) => d.limitSource === 'physical' && d.effectiveLimit)?.effectiveLimit
  const legend = series.map((s) => ({
    ...s,
    text: s.limit && !s.inRange ? `${s.label}: ${formatMib(s.max)}, ${s.max > dataMax * LIMIT_IN_RANGE ? 'off scale' : `far above ${s.ofLabel}`}` : s.key === 'rssBytes' && cgroupDrawn ? `${s.label} (not what the cgroup limit counts)` : s.label,
  }))
  if (physical && !has('cgroupLimitBytes')) legend.push({ text: `no cgroup limit; physical memory ${formatMib(physical)}, off scale`, color: '#777', noLine: true })
  legend.push({ text: 'dump', color: '#ff7f0e', mark: true })
  if (end) legend.push({ text: end.died ? 'death (last sign of life)' : 'clean exit', color: end.died ? '#000000' : '#2ca02c', mark: true })
  // Title, verdict and legend rows, kept inside the frame.
  const when = v.atMs != null ? ` at ${iso(v.atMs).slice(11, 23)} UTC` : ''
  out.push(`<text x="${M.l}" y="${top + 16}" font-size="13" font-weight="bold">${esc(clip(processTitle(p), W - M.l - M.r, 13))}</text>`)
  out.push(`<text class="verdict" x="${M.l}" y="${top + 33}">${esc(clip(`${v.outcome}${when}${v.cause ? `: ${v.cause.text}` : ''}`, W - M.l - M.r))}</text>`)
  let lx = M.l
  let ly = top + 54
  for (const item of legend) {
    const w = 30 + textWidth(item.text) + 18
    if (lx + w > W - M.r && lx > M.l) {
      lx = M.l
      ly += 18
    }
    if (item.mark) out.push(`<line x1="${lx + 12}" x2="${lx + 12}" y1="${ly - 11}" y2="${ly + 3}" stroke="${item.color}" stroke-width="${item.color === '#000000' ? 3 : 2}"/>`)
    else if (!item.noLine) out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${item.color}" stroke-width="3"${item.limit ? ' stroke-dasharray="7 4"' : ''}/>`)
    out.push(`<text x="${lx + 30}" y="${ly}" fill="${item.noLine ? '#555' : '#000'}">${esc(item.text)}</text>`)
    lx += w
  }
  const plotTop = ly + 22
  const plotBottom = top + PANEL_H - M.b
  const scaleMax = Math.max(dataMax, ...series.filter((s) => s.limit && s.inRange).map((s) => s.max))
  const { step, top: vmax } = niceScale(scaleMax)
  const x = (t) => M.l + ((t - x0) / (x1 - x0)) * (W - M.l - M.r)
  const y = (val) => plotBottom - (val / vmax) * (plotBottom - plotTop)
  const f1 = (n) => fixed(n, 1)
  out.push(`<rect x="${M.l}" y="${plotTop}" width="${W - M.l - M.r}" height="${plotBottom - plotTop}" fill="none" stroke="#bbb"/>`)
  for (let val = 0; val <= vmax + step / 2; val += step) {
    out.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${f1(y(val))}" y2="${f1(y(val))}" stroke="#e6e6e6"/>`)
    out.push(`<text x="${M.l - 6}" y="${f1(y(val) + 4)}" text-anchor="end">${formatMib(val)}</text>`)
  }
  for (const tick of timeTicks(x0, x1)) {
    const tx = x(tick.t)
    out.push(`<line x1="${f1(tx)}" x2="${f1(tx)}" y1="${plotBottom}" y2="${plotBottom + 5}" stroke="#888"/>`)
    const half = textWidth(tick.label) / 2
    const anchor = tx + half > W - 2 ? 'end' : tx - half < 2 ? 'start' : 'middle'
    out.push(`<text class="time" x="${f1(tx)}" y="${plotBottom + 18}" text-anchor="${anchor}">${tick.label}</text>`)
  }
  out.push(`<text x="${W - M.r}" y="${plotBottom + 36}" text-anchor="end" fill="#555">time (UTC, ${iso(t0).slice(0, 10)}), ${fixed((t1 - t0) / 1000, 1)} s from the first point to the last</text>`)
  for (const s of series) {
    if (s.limit && !s.inRange) continue
    const pts = points.filter((q) => q[s.key] != null)
    const drawn = decimate(pts, s.key, x, 2 * (W - M.l - M.r))
    if (!drawn.length) continue
    const attrs = `class="series" data-series="${s.key}" fill="none" stroke="${s.color}" stroke-width="${s.limit ? 2 : 2.5}"${s.limit ? ' stroke-dasharray="7 4"' : ''}`
    if (drawn.length === 1) out.push(`<circle ${attrs} cx="${f1(x(drawn[0].epochMs))}" cy="${f1(y(drawn[0][s.key]))}" r="3"/>`)
    else out.push(`<polyline ${attrs} points="${drawn.map((q) => `${f1(x(q.epochMs))},${f1(y(q[s.key]))}`).join(' ')}"/>`)
  }
  // Markers with their labels in rows, so that close ones do not overwrite each other.
  const marks = dumpMarks.map((d) => ({ t: d.epochMs, label: `#${d.dumpNumber ?? '?'} ${d.trigger}`, color: '#ff7f0e', cls: 'dump', width: 2 }))
  if (end) {
    const what = v.cause && (v.cause.kind === 'v8HeapOom' ? 'V8 heap out of memory' : 'kernel OOM kill')
    const label = end.died ? `died${what ? ` (${v.cause.confirmed ? '' : 'most likely '}${what})` : ''}` : `exit (${v.evidence.match(/\((.*)\)/)?.[1] ?? 'clean'})`
    marks.push({ t: end.t, label, color: end.died ? '#000000' : '#2ca02c', cls: end.died ? 'death' : 'exit', width: 3 })
  }
  const rowsEnd = []
  for (const m of marks) {
    const mx = x(m.t)
    out.push(`<line class="${m.cls}" x1="${f1(mx)}" x2="${f1(mx)}" y1="${plotTop}" y2="${plotBottom}" stroke="${m.color}" stroke-width="${m.width}"/>`)
    const w = textWidth(m.label)
    const right = mx + 4 + w <= W - M.r - 2
    const [a, b] = right ? [mx + 4, mx + 4 + w] : [mx - 4 - w, mx - 4]
    let row = rowsEnd.findIndex((e) => e < a - 4)
    if (row < 0) row = rowsEnd.length
    rowsEnd[row] = b
    out.push(`<text x="${f1(right ? mx + 4 : mx - 4)}" y="${plotTop + 14 + row * 15}" fill="${m.color}"${right ? '' : ' text-anchor="end"'} font-weight="bold">${esc(m.label)}</text>`)
  }
  return out
}

/** Cuts text to fit `width` pixels at `size`. */
function clip(s, width, size = 12) {
  const max = Math.floor(width / (size * 0.58))
  return s.length > max ? `${s.slice(0, max - 1)}…` : s
}

/** A timeline per process (never two processes in one series): plain SVG, no dependencies. */
function svg(summary) {
  const procs = summary.processes.filter((p) => p.samples.length || p.dumps.some((d) => d.epochMs != null))
  const drawn = procs.slice(0, LIMITS.processesDrawn)
  const header = 34
  const more = procs.length - drawn.length
  const H = header + Math.max(drawn.length, 1) * PANEL_H + (more > 0 ? 24 : 0)
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>memory timeline</title>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">Memory timeline, one panel per process</text>`,
  ]
  if (!drawn.length) out.push(`<text x="12" y="${header + 30}">nothing to draw: no recorder samples and no dump with a readable time</text>`)
  drawn.forEach((p, i) => {
    for (const line of panel(p, header + i * PANEL_H)) out.push(line)
  })
  if (more > 0) out.push(`<text x="12" y="${H - 8}">${more} more process(es) not drawn; the text summary lists them all</text>`)
  out.push('</svg>')
  return out.join('\n')
}

function html(summary) {
  const sections = summary.processes.map((p) => {
    const g = growthLine(p.verdict.growth)
    const rows = dumpTable(p)
    const tableHtml = p.dumps.length
      ? `<table><tr>${rows[0].map((c) => `<th>${esc(c)}</th>`).join('')}</tr>${rows
          .slice(1)
          .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
          .join('')}</table>`
      : '<p>no dumps</p>'
    return `<section><h2>${esc(processTitle(p))}</h2><p class="verdict">${esc(verdictLine(p.verdict))}</p>${g ? `<p>${esc(g, 2000)}</p>` : ''}${p.verdict.growth?.advice ? `<p>Look next at: ${esc(p.verdict.growth.advice, 2000)}</p>` : ''}${tableHtml}</section>`
  })
  const problems = [...summary.notes.map((n) => esc(n)), ...summary.problems.map((p) => `${esc(p.file)}: ${esc(p.error)}`)]
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>memory-diagnostics-dumper inspect</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1200px}p,h2,td{overflow-wrap:anywhere}svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}</style></head>
<body><h1>memory-diagnostics-dumper inspect</h1>${svg(summary)}${sections.join('\n')}${problems.length ? `<h2>Files not read</h2><ul>${problems.map((p) => `<li>${p}</li>`).join('')}</ul>` : ''}</body></html>\n`
}

// ---- the command line -----------------------------------------------------------------------------

const USAGE = `usage: memory-diagnostics-dumper <command> [options]

commands:
  inspect <dir|file...>   summarise dump and recorder files, or a bundle (inspect --help for more)
  bundle [dir]            one redacted .zip of a crash for a bug report (bundle --help for more)
  help [command]          this help, or a command's
options: --help, -h       this help;  --version, -V   the version`

const INSPECT_USAGE = `usage: memory-diagnostics-dumper inspect <dir|file...> [--json] [--svg out.svg] [--html out.html]

Reads dump files (memory-*.json) and recorder files (recorder-*.jsonl, .jsonl.1), in
directories or in a bundle (.zip, from memory-diagnostics-dumper bundle), checks each
against the dump schema, and prints per process (pid and start time): its dumps, whether it
crashed or exited cleanly (and the likely cause of a death), and the kind of memory growth.

  --json           the summary as JSON
  --svg <file>     a timeline picture, one panel per process
  --html <file>    the picture and the summary on one page
  --help, -h       this help

exit codes: 0 every file read and valid; 1 some files unreadable, truncated, not dumps or
skipped (each named with the reason; the rest is still summarised); 2 usage error, nothing
readable, or an output file that cannot be written.`

function version() {
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version
  } catch {
    return 'unknown'
  }
}

function main(argv, io = { out: process.stdout, err: process.stderr }) {
  const [cmd, ...rest] = argv
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    io.out.write(`memory-diagnostics-dumper ${version()}\n`)
    return 0
  }
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out.write((rest[0] === 'inspect' ? INSPECT_USAGE : rest[0] === 'bundle' ? require('./bundle.js').USAGE : USAGE) + '\n')
    return 0
  }
  if (cmd === 'bundle') return require('./bundle.js').main(rest, io)
  if (cmd !== 'inspect') {
    io.err.write(`${cmd ? `unknown command: ${clean(cmd)}\n` : ''}${USAGE}\n`)
    return 2
  }
  const endOfOptions = rest.indexOf('--')
  const options = endOfOptions < 0 ? rest : rest.slice(0, endOfOptions)
  if (options.includes('--help') || options.includes('-h')) {
    io.out.write(INSPECT_USAGE + '\n')
    return 0
  }
  if (options.includes('--version') || options.includes('-V')) {
    io.out.write(`memory-diagnostics-dumper ${version()}\n`)
    return 0
  }
  const args = endOfOptions < 0 ? [] : rest.slice(endOfOptions + 1)
  let json = false
  let svgOut = null
  let htmlOut = null
  for (let i = 0; i < options.length; i++) {
    const a = options[i]
    const eq = /^(--svg|--html)=(.*)$/.exec(a)
    if (a === '--json') json = true
    else if (a === '--svg' || a === '--html' || eq) {
      const target = eq ? eq[2] : options[++i]
      if (!target) {
        io.err.write(`${eq ? eq[1] : a} needs an output file\n`)
        return 2
      }
      if ((eq ? eq[1] : a) === '--svg') svgOut = target
      else htmlOut = target
    } else if (a.startsWith('-') && a !== '-') {
      io.err.write(`unknown option: ${clean(a)}\n${INSPECT_USAGE}\n`)
      return 2
    } else args.push(a)
  }
  if (!args.length) {
    io.err.write(`${INSPECT_USAGE}\n`)
    return 2
  }
  let summary
  try {
    summary = summarize(args)
  } catch (e) {
    io.err.write(`${clean(e.message, 400)}\n`)
    return 2
  }
  if (!summary.processes.length) {
    for (const p of summary.problems) io.err.write(`${clean(p.file, 400)}: ${p.error}\n`)
    return 2
  }
  for (const [file, make] of [
    [svgOut, svg],
    [htmlOut, html],
  ]) {
    if (!file) continue
    try {
      fs.writeFileSync(file, make(summary))
    } catch (e) {
      io.err.write(`cannot write ${clean(file, 400)}: ${reason(e)}\n`)
      return 2
    }
  }
  if (json) {
    const { processes, problems, notes } = summary
    io.out.write(JSON.stringify({ processes: processes.map(({ samples, firstMs, ...p }) => p), problems, notes, limits: { ...LIMITS, growthMinBytes: GROWTH_MIN_BYTES } }, null, 2) + '\n')
  } else io.out.write(text(summary) + '\n')
  return summary.problems.some((p) => !p.empty) ? 1 : 0
}

module.exports = { main, summarize, validate, svg, html, text, LIMITS, GROWTH_MIN_BYTES }

if (require.main === module) process.exitCode = main(process.argv.slice(2))
