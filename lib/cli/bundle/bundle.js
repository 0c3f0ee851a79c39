'use strict'
// `bundle(dir, options)` (and the `bundle` command's work, command.js): one .zip for a bug
// report, holding what a maintainer needs about one crash (or more, on request), redacted
// on the way out (redact.js) and bounded in size. See docs/bundle.md.
//
// Why .zip: Windows Explorer and macOS Finder open it without extra tools (a .tar.gz needs
// 7-Zip on older Windows), GitHub issue attachments accept it, and its entries are
// compressed one by one, so a reader can pick the few it needs (lib/cli/zip/).

const fs = require('node:fs')
const path = require('node:path')

const CONTRACT = require('../../contract.json')
const { fixed } = require('../../rules/format')
const { SAME_START_MS } = require('../../rules/process-start')
const { readRegular, reason } = require('../files')
const { MAX_DEPTH, boundArrays, cutsText, parseJson } = require('../json')
const { version } = require('../version')
const { text } = require('../inspect/text')
const { html, svg } = require('../inspect/timeline')
const { LIMITS: INSPECT_LIMITS, timeOf, unexpected } = require('../inspect/values')
const { summarize } = require('../inspect/verdict')
const { trailRecords } = require('../inspect/read')

const F = CONTRACT.files
// The project's own names (lib/cli/zip/read.js's kindOfName, the rule of src/writer/):
// nothing else is packed.
const { FORMAT, LIMITS: READ_LIMITS, kindOfName, looksLikeBundle, readBundle } = require('../zip/read')
const { zip } = require('../zip/write')
const { GENERIC_NAMES, MIN_NAME_CHARS, SHOWN_REDACTIONS, URL_RULE, note, redactJson, redactString, redactionRules } = require('../../rules/redact')
const MIB = 2 ** 20
const DEFAULT_MAX_BYTES = 2 * MIB
const MIN_MAX_BYTES = 64 * 1024
const LIMITS = {
  dumpBytes: INSPECT_LIMITS.dumpBytes,
  recorderBytes: INSPECT_LIMITS.recorderBytes,
  /** A heap snapshot is parsed to redact it: larger ones are left out, with the reason. */
  heapSnapshotBytes: 256 * MIB,
  bundleBytes: READ_LIMITS.bundleBytes,
  unpackedBytes: READ_LIMITS.unpackedBytes,
  /** Bytes read from files in one run, heap snapshots included: a directory of hard links to one file is read once per name. */
  totalBytes: INSPECT_LIMITS.totalBytes,
  /** Records kept of one trail, as inspect keeps them (lib/cli/inspect/values.js). */
  recorderRecords: INSPECT_LIMITS.recorderRecords,
  /** Recorder samples kept at full resolution at the end of each trail (the approach to the death). */
  tailSamples: 20,
  /** Redactions listed one by one by --show (all are counted). */
  shownRedactions: SHOWN_REDACTIONS,
}
// ---- reading the directory, safely ---------------------------------------------------------

/**
 * At most `limit` bytes of a regular file in `dir` named `name`, as text: never through a link,
 * never blocking, never more than it was when looked at (lib/cli/files.js); and only if it
 * fits in what is left of the run's `budget` (`{ left }` bytes, LIMITS.totalBytes).
 */
function readOwn(dir, name, limit, budget) {
  const r = readRegular(path.join(dir, name), Math.min(limit, budget.left))
  if (r.tooLarge != null) {
    return {
      error:
        r.tooLarge > limit
          ? `skipped: ${fixed(r.tooLarge / MIB, 1)} MiB is over the ${fixed(limit / MIB, 0)} MiB limit for this kind of file`
          : `skipped: it would pass the ${fixed(LIMITS.totalBytes / MIB, 0)} MiB read in one run (files are read in name order)`,
    }
  }
  if (r.error) return r
  budget.left -= r.data.length
  return { text: r.data.toString('utf8'), mtimeMs: r.mtimeMs }
}

/**
 * Recorder text as records: lines that are not whole JSON objects (a torn last line) are left
 * out, and at most LIMITS.recorderRecords are kept, as inspect keeps them (trailRecords:
 * samples thinned past it, the last ones always kept), so a trail of a million lines costs
 * what one of 20,000 does.
 */
function parseTrail(text) {
  const t = trailRecords(text, LIMITS.recorderRecords)
  return { records: t.records, dropped: t.bad + (t.torn ? 1 : 0), thinned: t.every > 1 || t.dropped ? { lines: t.lines, kept: t.records.length } : null }
}

/** One dump or recorder file of `dir`, read and redacted (`{ doc, text }`, `{ records, droppedLines }`), or `{ reason }` it is not taken. */
function take(dir, name, kind, rules, ctx, budget) {
  const r = readOwn(dir, name, kind === 'dump' ? LIMITS.dumpBytes : LIMITS.recorderBytes, budget)
  if (r.error) return { reason: r.error }
  if (kind === 'recorder') {
    const { records, dropped, thinned } = parseTrail(r.text)
    return { records: records.map((rec, i) => redactJson(rec, rules, ctx, `/record ${i + 1}`)), droppedLines: dropped, thinnedOnRead: thinned }
  }
  // Bounded in depth before redactJson recurses into it; an error gives a byte, never the text.
  const parsed = parseJson(r.text, MAX_DEPTH, INSPECT_LIMITS.dumpValues)
  if (parsed.error)
    return {
      reason:
        parsed.kind === 'depth' || parsed.kind === 'values'
          ? `skipped: ${parsed.error}`
          : `skipped: not complete JSON (half-written or damaged): ${parsed.error}`,
    }
  if (!parsed.value || typeof parsed.value !== 'object' || Array.isArray(parsed.value)) return { reason: 'skipped: not a dump document' }
  // Bounded as inspect bounds it (LIMITS.arrayItems) before it is copied and redacted.
  const cuts = boundArrays(parsed.value, INSPECT_LIMITS.arrayItems)
  const doc = redactJson(parsed.value, rules, ctx)
  return { doc, text: JSON.stringify(doc, null, 2) + '\n', cut: cuts.length ? cutsText(cuts, INSPECT_LIMITS.arrayItems) : null }
}

/**
 * Every file of ours in `dir`, read and redacted; what was not taken, and why. Foreign files,
 * temporary files and links are never opened.
 */
function scan(dir, rules) {
  let names
  const notUtf8 = new Set()
  try {
    // As bytes: a name that is not UTF-8 would be decoded with U+FFFD and then not found.
    names = fs.readdirSync(dir, { encoding: 'buffer' }).map((raw) => {
      const name = raw.toString('utf8')
      if (!Buffer.from(name, 'utf8').equals(raw)) notUtf8.add(name)
      return name
    })
  } catch (e) {
    throw new Error(`cannot read the diagnostics directory ${dir}: ${e.code ?? e.message}`)
  }
  const ctx = { tally: {}, changes: [], changed: 0, file: '' }
  const files = []
  const skipped = []
  const ignored = { temporary: 0, foreign: 0 }
  // What this run may still read (LIMITS.totalBytes); heap snapshots draw on it too.
  const budget = { left: LIMITS.totalBytes }
  for (const name of names.sort()) {
    const kind = kindOfName(name)
    if (!kind) {
      if (name.endsWith(F.tempSuffix) || name.includes(`${F.tempSuffix}.`)) ignored.temporary++
      // previousRun()'s markers (docs/previous-run.md) are the package's own, and no evidence.
      else if (!name.endsWith('.reported')) ignored.foreign++
      continue
    }
    const bundledName = redactString(name, rules, ctx.tally, true)
    ctx.file = bundledName
    if (bundledName !== name) note(ctx, '(file name)', name, bundledName)
    if (notUtf8.has(name)) {
      skipped.push({ name: bundledName, reason: 'skipped: its name is not UTF-8' })
      continue
    }
    if (kind === 'heapSnapshot') {
      // Read only when asked for and selected: they are large.
      files.push({ name: bundledName, original: name, kind })
      continue
    }
    let taken
    try {
      taken = take(dir, name, kind, rules, ctx, budget)
    } catch (e) {
      // The net under the net: whatever one file does, it is named and the rest is packed.
      taken = { reason: `skipped: could not be read (${unexpected(e)})` }
    }
    if (taken.reason) skipped.push({ name: bundledName, reason: taken.reason })
    else files.push({ name: bundledName, original: name, kind, ...taken })
  }
  return { files, skipped, ignored, redaction: ctx, budget }
}

// ---- choosing what to send ------------------------------------------------------------------

const lastMsOf = (p) => Math.max(p.verdict.atMs ?? -Infinity, ...p.dumps.map((d) => d.epochMs ?? -Infinity), p.firstMs ?? -Infinity)

/** A time for --since: an ISO date or epoch ms, or a duration back from now (`90s`, `30m`, `2h`, `7d`). */
function parseSince(v, now = Date.now()) {
  if (v instanceof Date && Number.isFinite(v.getTime())) return v.getTime()
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'string') {
    const d = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/.exec(v.trim())
    if (d) return now - Number(d[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[d[2]]
    const t = Date.parse(v)
    if (Number.isFinite(t)) return t
  }
  throw new TypeError(`since: expected a date (ISO 8601 or epoch ms) or a duration such as 30m, 2h or 7d, got ${JSON.stringify(v)}`)
}

/** A process for --pid: `41233`, or `41233@1796653443840` (its pid and its start in epoch ms, as previousRun() names it). */
function parsePid(v, what) {
  const m =
    typeof v === 'number'
      ? Number.isSafeInteger(v) && v > 0
        ? [null, String(v)]
        : null
      : typeof v === 'string'
        ? /^([1-9]\d{0,9})(?:@(\d{1,16}))?$/.exec(v)
        : null
  if (!m) throw new TypeError(`${what}: expected a process id, or PID@START (its start in epoch ms), got ${JSON.stringify(v)}`)
  return { pid: Number(m[1]), startMs: m[2] == null ? null : Number(m[2]) }
}

/** The processes to send: by default the most recent that crashed, else the most recent. */
function select(processes, opts) {
  let pool = processes
  if (opts.session != null) {
    const want = String(opts.session)
      .replace(/[^A-Za-z0-9_]/g, '')
      .slice(0, 8)
    pool = pool.filter((p) => p.sessionIds.some((s) => s === want || s === opts.session))
  }
  if (opts.since != null) pool = pool.filter((p) => lastMsOf(p) >= opts.since)
  // The process previousRun() named (its one-line bundle command): its pid and, when given, its
  // start (another process may have its pid now: a container's pid 1), most recent first.
  if (opts.pid != null)
    pool = [...pool]
      .filter(
        (p) =>
          p.pid === opts.pid.pid && (opts.pid.startMs == null || (p.processStartMs != null && Math.abs(p.processStartMs - opts.pid.startMs) <= SAME_START_MS)),
      )
      .sort((a, b) => lastMsOf(b) - lastMsOf(a))
      .slice(0, 1)
  if (opts.all || opts.session != null || opts.since != null || opts.pid != null)
    return { processes: pool, rule: opts.all ? 'all processes' : 'processes matching the filters' }
  const byRecency = [...pool].sort((a, b) => lastMsOf(b) - lastMsOf(a))
  const crashed = byRecency.find((p) => p.verdict.outcome === 'crashed')
  if (crashed) return { processes: [crashed], rule: 'the most recent process that crashed' }
  return { processes: byRecency.slice(0, 1), rule: 'the most recent process (none crashed)' }
}

// ---- fitting the budget ----------------------------------------------------------------------

/**
 * The trail with one sample in `every` kept, and always: every record that is not a sample
 * (start, exit), the first and the last sample after each start, and the last samples.
 */
function thin(records, every) {
  if (every <= 1) return records
  const keep = new Array(records.length).fill(false)
  let lastSample = -1
  let seen = 0
  let tail = 0
  for (let i = records.length - 1; i >= 0 && tail < LIMITS.tailSamples; i--) {
    if (records[i].type === 'sample') {
      keep[i] = true
      tail++
    }
  }
  for (let i = 0; i < records.length; i++) {
    if (records[i].type !== 'sample') {
      keep[i] = true
      if (lastSample >= 0) keep[lastSample] = true
      seen = 0
      continue
    }
    if (seen % every === 0) keep[i] = true
    seen++
    lastSample = i
  }
  if (lastSample >= 0) keep[lastSample] = true
  return records.filter((_, i) => keep[i])
}

const trailText = (records) => records.map((r) => JSON.stringify(r)).join('\n') + (records.length ? '\n' : '')

/** The zip's entries for one choice of thinning and dumps: the files, the reports and the manifest. */
function assemble(chosen, state, meta) {
  const files = []
  for (const f of chosen) {
    if (f.kind === 'recorder') files.push({ name: f.name, kind: f.kind, text: trailText(thin(f.records, state.every)) })
    else if (f.kind === 'dump' && !state.dropped.has(f.name)) files.push({ name: f.name, kind: f.kind, text: f.text })
    else if (f.kind === 'heapSnapshot' && !state.droppedSnapshots.has(f.name)) files.push({ name: f.name, kind: f.kind, text: f.text })
  }
  const summary = summarize(files.filter((f) => f.kind !== 'heapSnapshot').map((f) => ({ path: f.name, text: f.text })))
  const reports = [
    { name: 'summary.txt', kind: 'summary', text: text(summary) + '\n' },
    { name: 'timeline.svg', kind: 'timeline', text: svg(summary) + '\n' },
    { name: 'timeline.html', kind: 'timeline', text: html(summary) },
  ]
  const all = [...files, ...reports].map((f) => ({ ...f, data: Buffer.from(f.text, 'utf8') }))
  const trails = chosen.filter((f) => f.kind === 'recorder')
  const manifest = {
    format: FORMAT,
    formatVersion: 1,
    producer: { name: 'memory-diagnostics-dumper', version: meta.version, node: process.version, platform: process.platform },
    createdAt: meta.createdAt,
    selection: {
      rule: meta.rule,
      processes: summary.processes.map((p) => ({
        pid: p.pid,
        sessionIds: p.sessionIds,
        processStart: p.processStart,
        outcome: p.verdict.outcome,
        cause: p.verdict.cause?.kind ?? null,
      })),
    },
    files: all.map((f) => ({ name: f.name, kind: f.kind, bytes: f.data.length })),
    budget: {
      maxBytes: meta.maxBytes,
      recorderThinned:
        state.every > 1
          ? trails.map((f) => ({
              file: f.name,
              samplesBefore: f.records.filter((r) => r.type === 'sample').length,
              samplesKept: thin(f.records, state.every).filter((r) => r.type === 'sample').length,
              keptOneIn: state.every,
            }))
          : [],
      droppedDumps: [...state.dropped],
      droppedHeapSnapshots: [...state.droppedSnapshots],
      note: meta.note(state),
    },
    redaction: meta.redaction,
    notIncluded: meta.notIncluded,
  }
  all.unshift({ name: 'manifest.json', kind: 'manifest', data: Buffer.from(JSON.stringify(manifest, null, 2) + '\n', 'utf8') })
  return { entries: all, manifest, summary }
}

// ---- the whole --------------------------------------------------------------------------------

const OPTION_KEYS = ['output', 'all', 'session', 'since', 'pid', 'withSnapshots', 'maxBytes', 'show', 'env']

function checkOptions(dir, options) {
  if (typeof dir !== 'string' || !dir) throw new TypeError(`dir: expected the diagnostics directory as a non-empty string, got ${typeof dir}`)
  const o = options ?? {}
  if (typeof o !== 'object' || Array.isArray(o)) throw new TypeError('options: expected an object')
  for (const k of Object.keys(o)) if (!OPTION_KEYS.includes(k)) throw new TypeError(`options.${k}: unknown option (known: ${OPTION_KEYS.join(', ')})`)
  const out = { ...o }
  if (o.output != null && (typeof o.output !== 'string' || !o.output)) throw new TypeError('options.output: expected a file path')
  for (const k of ['all', 'withSnapshots', 'show']) if (o[k] != null && typeof o[k] !== 'boolean') throw new TypeError(`options.${k}: expected a boolean`)
  if (o.session != null && (typeof o.session !== 'string' || !o.session)) throw new TypeError('options.session: expected a session id')
  out.since = o.since == null ? null : parseSince(o.since)
  if (o.pid != null) out.pid = parsePid(o.pid, 'options.pid')
  out.maxBytes = o.maxBytes ?? DEFAULT_MAX_BYTES
  if (!Number.isSafeInteger(out.maxBytes) || out.maxBytes < MIN_MAX_BYTES)
    throw new TypeError(`options.maxBytes: expected an integer of at least ${MIN_MAX_BYTES} bytes, got ${o.maxBytes}`)
  return out
}

/** A bundle planned and packed, not written: `{ zip, entries, manifest, redaction, summary }`. */
function plan(dir, options) {
  const opts = checkOptions(dir, options)
  const rules = redactionRules(opts.env ?? process.env)
  const { files, skipped, ignored, redaction, budget } = scan(dir, rules)
  const readable = files.filter((f) => f.kind !== 'heapSnapshot')
  if (!readable.length) {
    // Files of ours that were all left out are named with why (a skipped dump is not "no dump").
    const why = skipped.slice(0, 3).map((f) => `${f.name}: ${f.reason}`)
    throw new Error(
      `nothing to bundle in ${dir}: no ${skipped.length ? 'readable ' : ''}dump or recorder file in it${why.length ? ` (${why.join('; ')}${skipped.length > 3 ? `; ${skipped.length - 3} more` : ''})` : ''}`,
    )
  }
  const whole = summarize(readable.map((f) => ({ path: f.name, text: f.kind === 'dump' ? f.text : trailText(f.records) })))
  // Files of no process (not a dump, or a dump without its pid and time) are named with why, not counted as other processes'.
  const inSome = new Set(whole.processes.flatMap((p) => [...p.dumps.map((d) => d.file), ...p.recorder.files.map((f) => f.file)]))
  const unusable = new Map(whole.problems.filter((p) => !inSome.has(p.file)).map((p) => [p.file, `skipped: ${p.error.replace(/^skipped: /, '')}`]))
  const { processes, rule } = select(whole.processes, opts)
  if (!processes.length) {
    throw new Error(`nothing to bundle in ${dir}: no process matches the filters`)
  }
  const names = new Set(processes.flatMap((p) => [...p.dumps.map((d) => d.file), ...p.recorder.files.map((f) => f.file)]))
  const chosen = readable.filter((f) => names.has(f.name))
  // Heap snapshots: on request, only the redacted ones the chosen dumps link to.
  const snapshotsNotIncluded = []
  if (opts.withSnapshots) {
    for (const d of chosen.filter((f) => f.kind === 'dump')) {
      const h = d.doc.heapSnapshot
      if (!h || typeof h !== 'object' || h.status !== 'written' || typeof h.file !== 'string') continue
      const f = files.find((x) => x.kind === 'heapSnapshot' && x.name === h.file)
      if (!f) {
        snapshotsNotIncluded.push({ name: h.file, reason: 'not in the directory' })
        continue
      }
      if (h.redacted === false) {
        snapshotsNotIncluded.push({ name: f.name, reason: 'not redacted: it holds every string in the heap, so it is never bundled' })
        continue
      }
      // One snapshot linked by two dumps is read and packed once.
      if (chosen.some((x) => x.kind === 'heapSnapshot' && x.name === f.name)) continue
      const r = readOwn(dir, f.original, LIMITS.heapSnapshotBytes, budget)
      const parsed = r.error ? r : parseJson(r.text)
      const doc = parsed.value
      if (!doc || typeof doc !== 'object') {
        snapshotsNotIncluded.push({ name: f.name, reason: parsed.error ?? 'not a heap snapshot' })
        continue
      }
      redaction.file = f.name
      chosen.push({ ...f, text: JSON.stringify(redactJson(doc, rules, redaction)) })
    }
  }
  const tally = redaction.tally
  const meta = {
    version: version(),
    createdAt: new Date().toISOString(),
    maxBytes: opts.maxBytes,
    rule,
    redaction: {
      applied: [URL_RULE, ...rules].map((r) => ({
        what: r.what,
        replacement: r.replacement,
        inFileNames: r.nameReplacement,
        values: r.values.length,
        replaced: tally[r.what] ?? 0,
      })),
      how: "every string and key of every dump, recorder record and heap snapshot; script names and URLs by the place rule (docs/bundle.md), a frame's script as a whole and URLs inside any other string; names are matched case-insensitively as whole words, the home directory as a path prefix, plain or percent-encoded; file names and session ids get the plain word (user, host, home) so they keep their pattern",
      neverIncluded: 'environment variables, command-line argument values and file contents are never in the documents (the writer does not record them)',
    },
    notIncluded: {
      files: [
        ...skipped,
        ...[...unusable].map(([name, reason]) => ({ name, reason })),
        ...snapshotsNotIncluded,
        ...(opts.withSnapshots
          ? []
          : files.filter((f) => f.kind === 'heapSnapshot').map((f) => ({ name: f.name, reason: 'heap snapshots are bundled only with --with-snapshots' }))),
      ],
      otherProcessesFiles: readable.filter((f) => !names.has(f.name) && !unusable.has(f.name)).length,
      temporaryFiles: ignored.temporary,
      foreignFiles: ignored.foreign,
      tornRecorderLines: chosen.reduce((n, f) => n + (f.droppedLines ?? 0), 0),
      // What was bounded as it was read (docs/bundle.md, Limits): included, but not whole.
      boundedOnRead: chosen
        .filter((f) => f.cut || f.thinnedOnRead)
        .map((f) => ({
          name: f.name,
          reason:
            f.cut ??
            `${f.thinnedOnRead.lines} records, more than the ${LIMITS.recorderRecords} kept of one trail: ${f.thinnedOnRead.kept} kept, samples thinned`,
        })),
    },
    note: (s) =>
      s.every === 1 && !s.dropped.size && !s.droppedSnapshots.size
        ? 'everything selected fits'
        : `over ${opts.maxBytes} bytes with everything selected: ${[
            s.droppedSnapshots.size && `${s.droppedSnapshots.size} heap snapshot(s) left out`,
            s.every > 1 &&
              `recorder trails thinned to one sample in ${s.every} (start and exit records, the first and last samples and the last ${LIMITS.tailSamples} kept)`,
            s.dropped.size && `the ${s.dropped.size} oldest dump(s) left out`,
          ]
            .filter(Boolean)
            .join(', then ')}`,
  }
  // Within the budget: heap snapshots go first, then the trail is thinned, then older dumps go.
  const state = { every: 1, dropped: new Set(), droppedSnapshots: new Set() }
  const snaps = chosen.filter((f) => f.kind === 'heapSnapshot')
  const dumpsOldestFirst = chosen.filter((f) => f.kind === 'dump').sort((a, b) => (timeOf(a.doc.timestamp) ?? 0) - (timeOf(b.doc.timestamp) ?? 0))
  const newestPerProcess = new Set(processes.map((p) => p.dumps.at(-1)?.file).filter(Boolean))
  const maxSamples = Math.max(0, ...chosen.filter((f) => f.kind === 'recorder').map((f) => f.records.length))
  for (;;) {
    const built = assemble(chosen, state, meta)
    const packed = zip(built.entries)
    if (packed.length <= opts.maxBytes) return { zip: packed, ...built, redaction, rules }
    const snap = snaps.find((f) => !state.droppedSnapshots.has(f.name))
    const dump = dumpsOldestFirst.find((f) => !state.dropped.has(f.name) && !newestPerProcess.has(f.name))
    if (snap) state.droppedSnapshots.add(snap.name)
    else if (state.every < maxSamples) state.every *= 2
    else if (dump) state.dropped.add(dump.name)
    else
      throw new Error(
        `the bundle cannot be made within ${opts.maxBytes} bytes: with every trail thinned and only the newest dump of each process it is ${packed.length} bytes; raise maxBytes (--max-bytes)`,
      )
  }
}

function defaultOutput() {
  return path.resolve(
    `memory-diagnostics-${new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')}.zip`,
  )
}

/** Writes the bundle: created exclusively (never over an existing file), mode 0600. */
function writeBundle(dir, options = {}) {
  const p = plan(dir, options)
  const out = path.resolve(options.output ?? defaultOutput())
  let fd
  try {
    fd = fs.openSync(out, 'wx', 0o600)
  } catch (e) {
    throw new Error(`cannot write ${out}: ${reason(e)}`)
  }
  // Whole or not at all: every write's count checked (a full disk gives a short write first,
  // then ENOSPC: a truncated zip was reported written), synced, its size compared; on any
  // failure the partial file is removed and the error names it.
  try {
    for (let off = 0; off < p.zip.length; ) {
      const n = fs.writeSync(fd, p.zip, off, p.zip.length - off)
      if (n <= 0) throw Object.assign(new Error('short write'), { code: 'ENOSPC' })
      off += n
    }
    fs.fsyncSync(fd)
    const size = fs.fstatSync(fd).size
    if (size !== p.zip.length) throw Object.assign(new Error('size'), { code: `${size} bytes on disk, not ${p.zip.length}` })
    fs.closeSync(fd)
  } catch (e) {
    try {
      fs.closeSync(fd)
    } catch {}
    try {
      fs.unlinkSync(out)
    } catch {}
    throw new Error(`cannot write ${out}: ${e.code === 'ENOSPC' ? 'no space left on the device' : reason(e)}; the partial file was removed`)
  }
  return { path: out, bytes: p.zip.length, files: p.entries.map((f) => f.name), plan: p }
}

/**
 * The host API: `bundle(dir, options) → Promise<{ path, bytes, files }>`. Rejects with an
 * error naming the option or the problem; never touches the directory's files.
 */
function bundle(dir, options) {
  return new Promise((resolve) => {
    const { plan: _p, ...result } = writeBundle(dir, options ?? {})
    resolve(result)
  })
}

module.exports = { bundle, plan, writeBundle, readBundle, looksLikeBundle, redactionRules, GENERIC_NAMES, MIN_NAME_CHARS }
