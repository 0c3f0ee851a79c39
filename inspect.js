'use strict'
// `memory-diagnostics-dumper inspect`: turns dump files and recorder files into an answer
// for the maintainer who receives them. Plain Node, no dependencies, works without the
// native addon. See docs/inspect.md.

const fs = require('node:fs')
const path = require('node:path')

const KNOWN_SCHEMA_VERSION = 1
const DUMP_NAME = /^memory-[A-Za-z0-9_]{1,8}-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-\d+(\.\d+)?\.json$/
const RECORDER_NAME = /^recorder-[A-Za-z0-9_-]{1,64}\.jsonl(\.1)?$/
const MIB = 2 ** 20
const GIB = 2 ** 30

// ---- a JSON Schema validator for the subset docs/dump.schema.json uses ------------------

function typeOf(v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function validate(schema, value, root = schema, at = '') {
  const errors = []
  const fail = (msg) => errors.push(`${at || '/'}: ${msg}`)
  if (schema === true || schema === undefined) return errors
  if (schema.$ref) {
    const target = schema.$ref.replace(/^#\//, '').split('/').reduce((o, k) => o[k], root)
    return validate(target, value, root, at)
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
    if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) fail(`does not match ${schema.pattern}`)
    if (schema.maxLength !== undefined && [...value].length > schema.maxLength) fail(`longer than ${schema.maxLength}`)
  }
  if (t === 'array') {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(`more than ${schema.maxItems} items`)
    if (schema.minItems !== undefined && value.length < schema.minItems) fail(`fewer than ${schema.minItems} items`)
    if (schema.items) value.forEach((v, i) => errors.push(...validate(schema.items, v, root, `${at}/${i}`)))
  }
  if (t === 'object') {
    const keys = Object.keys(value)
    for (const k of schema.required ?? []) if (!(k in value)) fail(`missing ${k}`)
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) fail(`more than ${schema.maxProperties} properties`)
    for (const k of keys) {
      if (schema.propertyNames) errors.push(...validate(schema.propertyNames, k, root, `${at}/${k} (name)`))
      if (schema.properties && k in schema.properties) errors.push(...validate(schema.properties[k], value[k], root, `${at}/${k}`))
      else if (schema.additionalProperties === false) fail(`unexpected property ${k}`)
      else if (typeof schema.additionalProperties === 'object') errors.push(...validate(schema.additionalProperties, value[k], root, `${at}/${k}`))
    }
  }
  if (schema.oneOf && schema.oneOf.filter((s) => validate(s, value, root, at).length === 0).length !== 1) fail('does not match exactly one alternative')
  if (schema.anyOf && !schema.anyOf.some((s) => validate(s, value, root, at).length === 0)) fail('matches no alternative')
  if (schema.not && validate(schema.not, value, root, at).length === 0) fail('matches a forbidden shape')
  if (schema.if) {
    const branch = validate(schema.if, value, root, at).length === 0 ? schema.then : schema.else
    if (branch) errors.push(...validate(branch, value, root, at))
  }
  return errors
}

let schemaCache
function schema() {
  schemaCache ??= JSON.parse(fs.readFileSync(path.join(__dirname, 'docs', 'dump.schema.json'), 'utf8'))
  return schemaCache
}

// ---- reading files ----------------------------------------------------------------------

class UsageError extends Error {}

/** Expands the arguments into files: directories give their dump and recorder files. */
function collect(args) {
  const files = []
  for (const a of args) {
    let st
    try {
      st = fs.statSync(a)
    } catch (e) {
      files.push({ path: a, error: `cannot read: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}` })
      continue
    }
    if (st.isDirectory()) {
      const inside = fs.readdirSync(a).filter((f) => DUMP_NAME.test(f) || RECORDER_NAME.test(f))
      if (!inside.length) files.push({ path: a, error: 'no dump or recorder files in this directory', empty: true })
      for (const f of inside.sort()) files.push({ path: path.join(a, f) })
    } else files.push({ path: a })
  }
  return files
}

function readDump(file) {
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (e) {
    return { error: `cannot read: ${e.code === 'EISDIR' ? 'it is a directory' : e.message}` }
  }
  if (!text.trim()) return { error: 'empty file' }
  let doc
  try {
    doc = JSON.parse(text)
  } catch (e) {
    return { error: `not complete JSON (truncated or corrupt): ${e.message}` }
  }
  if (typeof doc !== 'object' || doc === null || !('schemaVersion' in doc) || !('atTrigger' in doc)) {
    return { error: 'JSON, but not a memory-diagnostics-dumper dump (no schemaVersion/atTrigger)' }
  }
  if (doc.schemaVersion !== KNOWN_SCHEMA_VERSION) {
    const v = doc.schemaVersion
    return {
      error:
        typeof v === 'number' && v > KNOWN_SCHEMA_VERSION
          ? `schemaVersion ${v} is newer than this reader (${KNOWN_SCHEMA_VERSION}); upgrade memory-diagnostics-dumper to read it`
          : `unknown schemaVersion ${JSON.stringify(v)} (this reader knows ${KNOWN_SCHEMA_VERSION})`,
    }
  }
  const errors = validate(schema(), doc)
  if (errors.length) return { doc, error: `does not match schema version 1: ${errors.slice(0, 3).join('; ')}${errors.length > 3 ? ` (+${errors.length - 3} more)` : ''}` }
  return { doc }
}

function readRecorder(file) {
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (e) {
    return { error: `cannot read: ${e.message}` }
  }
  const lines = text.split('\n')
  const last = lines.pop()
  const records = []
  let bad = 0
  for (const l of lines) {
    try {
      records.push(JSON.parse(l))
    } catch {
      bad++
    }
  }
  if (bad) return { error: `${bad} line(s) are not JSON (only a torn last line is expected)`, records }
  return { records, torn: Boolean(last) }
}

// ---- the summary ------------------------------------------------------------------------

const num = (v) => (typeof v === 'number' ? v : null)
const mib = (b) => (b == null ? '?' : `${(b / MIB).toFixed(0)} MiB`)

function summarize(args) {
  const files = collect(args)
  if (!files.length) throw new UsageError('no files given')
  const problems = []
  const sessions = new Map()
  const session = (id) => {
    if (!sessions.has(id)) sessions.set(id, { sessionId: id, dumps: [], recorder: [], recorderFiles: [] })
    return sessions.get(id)
  }
  for (const f of files) {
    if (f.error) {
      problems.push({ file: f.path, error: f.error, empty: f.empty })
      continue
    }
    const base = path.basename(f.path)
    if (RECORDER_NAME.test(base) || base.endsWith('.jsonl')) {
      const r = readRecorder(f.path)
      if (r.error) problems.push({ file: f.path, error: r.error })
      const starts = (r.records ?? []).filter((x) => x.type === 'start')
      const id = starts[0]?.sessionId ?? base.replace(/^recorder-|\.jsonl(\.1)?$/g, '')
      const s = session(id)
      s.recorder.push(...(r.records ?? []))
      s.recorderFiles.push({ file: f.path, torn: Boolean(r.torn) })
      continue
    }
    const r = readDump(f.path)
    if (r.error) {
      problems.push({ file: f.path, error: r.error })
      if (!r.doc) continue
    }
    session(r.doc.sessionId).dumps.push({ file: f.path, doc: r.doc, valid: !r.error })
  }
  const out = []
  for (const s of sessions.values()) {
    s.dumps.sort((a, b) => (a.doc.timestamp < b.doc.timestamp ? -1 : 1))
    s.recorder.sort((a, b) => (a.epochMs ?? 0) - (b.epochMs ?? 0))
    const samples = s.recorder.filter((x) => x.type === 'sample')
    const exit = s.recorder.filter((x) => x.type === 'exit').at(-1)
    const rows = s.dumps.map(({ file, doc, valid }) => {
      const h = doc.atTrigger.v8HeapStats
      const rss = doc.process?.status?.vmRss ?? doc.atTrigger.memoryUsage.rss
      return {
        file,
        time: doc.timestamp,
        trigger: doc.trigger,
        dumpNumber: doc.dumpNumber,
        heapUsed: num(h.usedHeapSize),
        heapLimit: num(h.heapSizeLimit),
        rss: num(rss),
        effectiveLimit: num(doc.memoryLimit?.effectiveLimitBytes),
        limitSource: doc.memoryLimit?.source ?? null,
        cgroupOomKills: num(doc.cgroup?.events?.oomKill),
        topRisks: (doc.analysis?.risks ?? []).slice(0, 3).map((r) => `${r.type} (${r.severity})`),
        complete: doc.collectionComplete,
        valid,
      }
    })
    let verdict
    const lastSample = samples.at(-1)
    const lastDump = rows.at(-1)
    if (exit) verdict = { outcome: 'clean exit', at: exit.t, evidence: `the recorder's exit record (${exit.reason})` }
    else if (lastSample) {
      verdict = {
        outcome: 'crashed',
        at: lastSample.t,
        evidence: `the recorder has no exit record; its last sample (${lastSample.t}) is the last sign of life`,
      }
    } else if (lastDump) verdict = { outcome: 'unknown', at: lastDump.time, evidence: 'no recorder file; the dumps alone cannot tell a crash from a clean exit' }
    else verdict = { outcome: 'unknown', at: null, evidence: 'nothing readable' }
    verdict.growth = growth(samples, s.dumps.map((d) => d.doc))
    out.push({ sessionId: s.sessionId, dumps: rows, recorder: { files: s.recorderFiles, samples: samples.length, exit: exit ?? null }, verdict, samples })
  }
  out.sort((a, b) => ((a.dumps[0]?.time ?? a.verdict.at ?? '') < (b.dumps[0]?.time ?? b.verdict.at ?? '') ? -1 : 1))
  return { sessions: out, problems }
}

/** The kind of growth with the most evidence: JS heap, native memory or child processes. */
function growth(samples, docs) {
  const pts = samples.filter((s) => s.rssBytes != null)
  const first = pts[0]
  const last = pts.at(-1)
  const candidates = []
  if (first && last && pts.length >= 2) {
    // V8 figures start with the first observe(); compare from the first sample that has them.
    const withHeap = pts.filter((p) => p.heapUsedBytes != null)
    const h0 = withHeap[0]
    const h1 = withHeap.at(-1)
    const rss = last.rssBytes - first.rssBytes
    const heap = h0 && h1 ? h1.heapUsedBytes - h0.heapUsedBytes : 0
    const heapTotalGrowth = h0 && h1 ? (h1.heapTotalBytes ?? 0) - (h0.heapTotalBytes ?? 0) : 0
    const native = rss - heapTotalGrowth
    if (h0) candidates.push({ kind: 'JS heap', bytes: heap, evidence: `heap used ${mib(h0.heapUsedBytes)} → ${mib(h1.heapUsedBytes)} over ${withHeap.length} samples` })
    candidates.push({ kind: 'native', bytes: native, evidence: `RSS ${mib(first.rssBytes)} → ${mib(last.rssBytes)} while the JS heap grew ${mib(heap)}` })
  } else if (docs.length) {
    const d = docs.at(-1)
    const rss = d.process?.status?.vmRss ?? d.atTrigger.memoryUsage.rss ?? 0
    const heapTotal = d.atTrigger.memoryUsage.heapTotal ?? 0
    candidates.push({ kind: 'JS heap', bytes: d.atTrigger.v8HeapStats.usedHeapSize ?? 0, evidence: `heap used ${mib(d.atTrigger.v8HeapStats.usedHeapSize)} of ${mib(d.atTrigger.v8HeapStats.heapSizeLimit)}` })
    candidates.push({ kind: 'native', bytes: rss - heapTotal, evidence: `RSS ${mib(rss)} against a ${mib(heapTotal)} JS heap` })
  }
  const children = docs.at(-1)?.processTree?.descendantsRssBytes
  if (children) candidates.push({ kind: 'child processes', bytes: children, evidence: `descendants hold ${mib(children)}` })
  if (!candidates.length) return null
  return candidates.sort((a, b) => b.bytes - a.bytes)[0]
}

// ---- output -------------------------------------------------------------------------------

function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)))
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd()).join('\n')
}

function text(summary) {
  const lines = []
  for (const s of summary.sessions) {
    lines.push(`Session ${s.sessionId}`)
    if (s.dumps.length) {
      lines.push(
        table([
          ['time (UTC)', 'trigger', 'heap used / limit', 'RSS / effective limit', 'cgroup OOM kills', 'top risks', 'complete'],
          ...s.dumps.map((d) => [
            d.time.replace('T', ' ').replace('Z', ''),
            `#${d.dumpNumber} ${d.trigger}`,
            `${mib(d.heapUsed)} / ${mib(d.heapLimit)}`,
            `${mib(d.rss)} / ${d.effectiveLimit ? `${mib(d.effectiveLimit)} (${d.limitSource})` : '?'}`,
            d.cgroupOomKills ?? '-',
            d.topRisks.join(', ') || '-',
            d.complete ? 'yes' : 'phase 1 only',
          ]),
        ]).replace(/^/gm, '  '),
      )
    } else lines.push('  no dumps')
    const v = s.verdict
    lines.push(`  Verdict: ${v.outcome}${v.at ? ` at ${v.at}` : ''} (${v.evidence}).`)
    if (v.growth) lines.push(`  Most likely growth: ${v.growth.kind} (${v.growth.evidence}).`)
    lines.push('')
  }
  for (const p of summary.problems) lines.push(`${p.file}: ${p.error}`)
  return lines.join('\n')
}

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
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
  if (b >= 2 * GIB) return `${+(b / GIB).toFixed(1)} GiB`
  return `${Math.round(b / MIB)} MiB`
}

/** A timeline of the recorder samples with the dumps marked: plain SVG, no dependencies. */
function svg(summary) {
  const W = 960
  const H = 420
  const M = { l: 70, r: 20, t: 40, b: 50 }
  const series = [
    { key: 'rssBytes', label: 'RSS', color: '#d62728' },
    { key: 'heapUsedBytes', label: 'heap used', color: '#1f77b4' },
    { key: 'heapLimitBytes', label: 'heap limit', color: '#9467bd', dash: '6 4' },
    { key: 'limit', label: 'effective memory limit', color: '#2ca02c', dash: '2 3' },
  ]
  const points = []
  const marks = []
  for (const s of summary.sessions) {
    const lim = s.dumps.find((d) => d.effectiveLimit)?.effectiveLimit ?? null
    for (const p of s.samples) points.push({ ...p, limit: p.cgroupLimitBytes ?? lim })
    for (const d of s.dumps) marks.push({ t: Date.parse(d.time), label: `#${d.dumpNumber} ${d.trigger}`, rss: d.rss, heapUsed: d.heapUsed, heapLimit: d.heapLimit, limit: d.effectiveLimit })
  }
  // Without recorder samples, the dumps themselves are the points.
  if (!points.length) for (const m of marks) points.push({ epochMs: m.t, rssBytes: m.rss, heapUsedBytes: m.heapUsed, heapLimitBytes: m.heapLimit, limit: m.limit })
  const ts = [...points.map((p) => p.epochMs), ...marks.map((m) => m.t)].filter(Number.isFinite)
  const t0 = Math.min(...ts)
  const t1 = Math.max(...ts, t0 + 1)
  // The y-axis follows the data, not the limits: a limit far above the process (physical RAM
  // on a machine without a cgroup limit) would flatten every line onto zero. A limit series
  // is drawn, and counted in the scale, only when it is within LIMIT_IN_RANGE of the data;
  // otherwise the legend states its value.
  const LIMIT_IN_RANGE = 1.5
  const finite = (v) => typeof v === 'number' && Number.isFinite(v)
  const dataMax = Math.max(1, ...points.flatMap((p) => series.filter((s) => !s.dash).map((s) => p[s.key])).filter(finite))
  for (const s of series.filter((s) => s.dash)) {
    const v = points.map((p) => p[s.key]).filter(finite)
    s.max = v.length ? v.reduce((a, b) => Math.max(a, b), 0) : null
    s.inRange = s.max != null && s.max <= dataMax * LIMIT_IN_RANGE
  }
  const scaleMax = Math.max(dataMax, ...series.filter((s) => s.inRange).map((s) => s.max))
  const { step, top: vmax } = niceScale(scaleMax)
  const x = (t) => M.l + ((t - t0) / (t1 - t0)) * (W - M.l - M.r)
  const y = (v) => H - M.b - (v / vmax) * (H - M.t - M.b)
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<title>memory timeline</title>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${M.l}" y="20" font-size="14" font-weight="bold">Memory timeline: ${esc(summary.sessions.map((s) => s.sessionId).join(', '))}</text>`,
  ]
  for (let v = 0; v <= vmax + step / 2; v += step) {
    out.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e0e0e0"/>`)
    out.push(`<text x="${M.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${formatMib(v)}</text>`)
  }
  out.push(`<text x="${M.l}" y="${H - 20}">${esc(new Date(t0).toISOString())}</text>`)
  out.push(`<text x="${W - M.r}" y="${H - 20}" text-anchor="end">+${((t1 - t0) / 1000).toFixed(1)} s</text>`)
  for (const s of series) {
    if (s.dash && !s.inRange) continue
    const pts = points.filter((p) => typeof p[s.key] === 'number').map((p) => `${x(p.epochMs).toFixed(1)},${y(p[s.key]).toFixed(1)}`)
    if (pts.length) {
      out.push(`<polyline class="series" data-series="${s.key}" fill="none" stroke="${s.color}" stroke-width="2.5"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} points="${pts.join(' ')}"/>`)
    }
  }
  for (const m of marks) {
    out.push(`<line class="dump" x1="${x(m.t).toFixed(1)}" x2="${x(m.t).toFixed(1)}" y1="${M.t}" y2="${H - M.b}" stroke="#ff7f0e" stroke-width="2"/>`)
    out.push(`<text x="${(x(m.t) + 3).toFixed(1)}" y="${M.t + 12}" fill="#ff7f0e">${esc(m.label)}</text>`)
  }
  series.forEach((s, i) => {
    const lx = M.l + 10 + i * 200
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${M.t - 8}" y2="${M.t - 8}" stroke="${s.color}" stroke-width="3"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`)
    const off = s.dash && !s.inRange ? (s.max == null ? ' (unknown)' : ` ${formatMib(s.max)}, off scale`) : ''
    out.push(`<text x="${lx + 30}" y="${M.t - 4}">${esc(s.label + off)}</text>`)
  })
  out.push('</svg>')
  return out.join('\n')
}

function html(summary) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>memory-diagnostics-dumper inspect</title>
<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em}</style></head>
<body><h1>memory-diagnostics-dumper inspect</h1>${svg(summary)}<pre>${esc(text(summary))}</pre></body></html>\n`
}

const USAGE = `usage: memory-diagnostics-dumper inspect <dir|file...> [--json] [--svg out.svg] [--html out.html]

Reads dump files (memory-*.json) and recorder files (recorder-*.jsonl), checks each against
the dump schema, and prints per session: the dumps, whether the process crashed or exited
cleanly, and the most likely kind of memory growth.

exit codes: 0 every file read and valid; 1 some files unreadable, truncated or not dumps
(the rest is still summarised); 2 usage error, or nothing to read.`

function main(argv, io = { out: process.stdout, err: process.stderr }) {
  const [cmd, ...rest] = argv
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out.write(USAGE + '\n')
    return 0
  }
  if (cmd !== 'inspect') {
    io.err.write(`${cmd ? `unknown command: ${cmd}\n` : ''}${USAGE}\n`)
    return 2
  }
  const args = []
  let json = false
  let svgOut = null
  let htmlOut = null
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--json') json = true
    else if (rest[i] === '--svg' || rest[i] === '--html') {
      const target = rest[++i]
      if (!target) {
        io.err.write(`${rest[i - 1]} needs an output file\n`)
        return 2
      }
      if (rest[i - 1] === '--svg') svgOut = target
      else htmlOut = target
    } else if (rest[i].startsWith('--')) {
      io.err.write(`unknown option: ${rest[i]}\n${USAGE}\n`)
      return 2
    } else args.push(rest[i])
  }
  if (!args.length) {
    io.err.write(`${USAGE}\n`)
    return 2
  }
  let summary
  try {
    summary = summarize(args)
  } catch (e) {
    io.err.write(`${e.message}\n`)
    return 2
  }
  if (!summary.sessions.length) {
    for (const p of summary.problems) io.err.write(`${p.file}: ${p.error}\n`)
    return 2
  }
  if (svgOut) fs.writeFileSync(svgOut, svg(summary))
  if (htmlOut) fs.writeFileSync(htmlOut, html(summary))
  if (json) {
    const { sessions, problems } = summary
    io.out.write(JSON.stringify({ sessions: sessions.map(({ samples, ...s }) => s), problems }, null, 2) + '\n')
  } else io.out.write(text(summary) + '\n')
  return summary.problems.some((p) => !p.empty) ? 1 : 0
}

module.exports = { main, summarize, validate, svg }

if (require.main === module) process.exitCode = main(process.argv.slice(2))
