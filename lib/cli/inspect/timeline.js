'use strict'
// The timeline picture: SVG panels of each process's memory over time, and the HTML page.

const { fixed } = require('../../rules/format')
const { dumpTable, growthLine, processTitle, verdictLine } = require('./text')
const { stallText } = require('./verdict')
const { GIB, LIMITS, MIB, clean, iso, tilde } = require('./values')

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
  {
    key: 'cgroupLimitBytes',
    label: 'cgroup limit (the kernel OOM-kills past it)',
    color: '#8c564b',
    limit: true,
    of: 'cgroupUsageBytes',
    ofLabel: 'cgroup usage',
  },
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
      .map((d) => ({
        epochMs: d.epochMs,
        rssBytes: d.rss,
        heapUsedBytes: d.heapUsed,
        heapLimitBytes: d.heapLimit,
        cgroupUsageBytes: d.cgroupUsage,
        cgroupLimitBytes: d.cgroupLimit,
      }))
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
    text:
      s.limit && !s.inRange
        ? `${s.label}: ${formatMib(s.max)}, ${s.max > dataMax * LIMIT_IN_RANGE ? 'off scale' : `far above ${s.ofLabel}`}`
        : s.key === 'rssBytes' && cgroupDrawn
          ? `${s.label} (not what the cgroup limit counts)`
          : s.label,
  }))
  if (physical && !has('cgroupLimitBytes'))
    legend.push({ text: `no cgroup limit; physical memory ${formatMib(physical)}, off scale`, color: '#777', noLine: true })
  legend.push({ text: 'dump', color: '#ff7f0e', mark: true })
  // A death the exit record tells is its time; one without a record is the last sign of life.
  const told = v.cause?.kind === 'exitCode' || v.cause?.kind === 'uncaughtException' || v.cause?.kind === 'unhandledRejection'
  if (end)
    legend.push({
      text: end.died ? `death (${told ? 'exit record' : 'last sign of life'})` : 'clean exit',
      color: end.died ? '#000000' : '#2ca02c',
      mark: true,
    })
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
    if (item.mark)
      out.push(
        `<line x1="${lx + 12}" x2="${lx + 12}" y1="${ly - 11}" y2="${ly + 3}" stroke="${item.color}" stroke-width="${item.color === '#000000' ? 3 : 2}"/>`,
      )
    else if (!item.noLine)
      out.push(
        `<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${item.color}" stroke-width="3"${item.limit ? ' stroke-dasharray="7 4"' : ''}/>`,
      )
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
  // At most 12 ticks whatever the scale says (niceScale gives 4 to 7 for figures num() lets through).
  for (let val = 0, k = 0; val <= vmax + step / 2 && k < 12; val += step, k++) {
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
  out.push(
    `<text x="${W - M.r}" y="${plotBottom + 36}" text-anchor="end" fill="#555">time (UTC, ${iso(t0).slice(0, 10)}), ${fixed((t1 - t0) / 1000, 1)} s from the first point to the last</text>`,
  )
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
    const what =
      v.cause &&
      (v.cause.kind === 'v8HeapOom'
        ? 'V8 heap out of memory'
        : v.cause.kind === 'cgroupOomKill'
          ? 'kernel OOM kill'
          : v.cause.kind === 'exitCode'
            ? `exit code ${v.cause.code}`
            : v.cause.kind === 'unhandledRejection'
              ? `unhandled ${v.cause.errorClass}`
              : `uncaught ${v.cause.errorClass}`)
    const label = end.died
      ? `died${what ? ` (${v.cause.confirmed ? '' : 'most likely '}${what})` : ''}`
      : `exit (${v.evidence.match(/\((.*)\)/)?.[1] ?? 'clean'})`
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
    out.push(
      `<text x="${f1(right ? mx + 4 : mx - 4)}" y="${plotTop + 14 + row * 15}" fill="${m.color}"${right ? '' : ' text-anchor="end"'} font-weight="bold">${esc(m.label)}</text>`,
    )
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
    return `<section><h2>${esc(processTitle(p))}</h2><p class="verdict">${esc(verdictLine(p.verdict))}</p>${(p.verdict.stalls ?? []).map((st) => `<p class="stall">Stall: ${esc(stallText(st), 2000)}.</p>`).join('')}${g ? `<p>${esc(g, 2000)}</p>` : ''}${p.verdict.growth?.advice ? `<p>Look next at: ${esc(p.verdict.growth.advice, 2000)}</p>` : ''}${tableHtml}</section>`
  })
  const problems = [...summary.notes.map((n) => esc(tilde(n))), ...summary.problems.map((p) => `${esc(tilde(p.file))}: ${esc(p.error)}`)]
  return `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>memory-diagnostics-dumper inspect</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1200px}p,h2,td{overflow-wrap:anywhere}svg{max-width:100%;height:auto}
table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left}</style></head>
<body><h1>memory-diagnostics-dumper inspect</h1>${svg(summary)}${sections.join('\n')}${problems.length ? `<h2>Files not read</h2><ul>${problems.map((p) => `<li>${p}</li>`).join('')}</ul>` : ''}</body></html>\n`
}

module.exports = { html, svg }
