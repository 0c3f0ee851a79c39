'use strict'
// The summary as text.

const path = require('node:path')
const { clean, clock, mib, tilde } = require('./values')
const { nearLimitText, signed, siteGroupText, stallText } = require('./verdict')

function table(rows) {
  const widths = rows[0].map((_, i) => rows.reduce((m, r) => Math.max(m, String(r[i]).length), 0))
  return rows
    .map((r) =>
      r
        .map((c, i) => String(c).padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
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
  const sites =
    g.kind && g.bySite
      ? `; by allocation site (sampled live bytes ${signed(g.bySite.bytes)}, dump #${g.bySite.fromDump ?? '?'} → #${g.bySite.toDump ?? '?'}): ${g.bySite.groups.map(siteGroupText).join('; ')}`
      : ''
  return g.kind
    ? `Most likely growth: ${g.kind} (${g.evidence})${sites}.`
    : g.unsplit
      ? `Growth: anonymous memory, not split by kind (${g.evidence})${sites}.`
      : `Growth: none found (${g.evidence}).`
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
    for (const st of p.verdict.stalls ?? []) lines.push(`  Stall: ${stallText(st)}.`)
    for (const n of p.verdict.nearLimit ?? []) lines.push(`  Near the limit: ${nearLimitText(n)}.`)
    const g = growthLine(p.verdict.growth)
    if (g) lines.push(`  ${g}`)
    if (p.verdict.growth?.advice) lines.push(`  Look next at: ${p.verdict.growth.advice}`)
    lines.push('')
  }
  for (const n of summary.notes) lines.push(clean(tilde(n), 400))
  for (const p of summary.problems) lines.push(`${clean(tilde(p.file), 400)}: ${p.error}`)
  return lines.join('\n')
}

module.exports = { dumpTable, growthLine, processTitle, text, verdictLine }
