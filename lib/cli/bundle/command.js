'use strict'
// `memory-diagnostics-dumper bundle`'s command line (reached through lib/cli/main.js): its
// options, and what it prints of the bundle it writes (bundle.js) or would write (--show).

const path = require('node:path')
const { fixed } = require('../../rules/format')
const { plan, writeBundle } = require('./bundle.js')

const MIB = 2 ** 20
const USAGE = `usage: memory-diagnostics-dumper bundle [DIR] [-o FILE] [--all | --session ID | --since TIME | --pid PID[@START]]
                                      [--with-snapshots] [--max-bytes N] [--show]

Packs what a maintainer needs about a crash into one .zip to attach to a bug report: the dumps
and recorder trail of the most recent process that crashed (or, if none, the most recent one),
the inspect summary (summary.txt), the timeline (timeline.svg, timeline.html) and manifest.json.
The home directory becomes ~, the user name <user> and the host name <host> in every file.

  DIR               the diagnostics directory (default: ./diagnostics)
  -o, --output FILE where to write (default: ./memory-diagnostics-<UTC time>.zip); never replaced
  --all             every process in the directory
  --session ID      the processes of this session id
  --since TIME      the processes active since TIME: ISO 8601, or 30m, 2h, 7d back from now
  --pid PID[@START] the most recent process with this pid (and this start, epoch ms): the
                    process previousRun()'s command names
  --with-snapshots  add the chosen dumps' heap snapshots, redacted ones only
  --max-bytes N     the size limit (default 2MiB; K, M, KiB, MiB suffixes): heap snapshots go
                    first, then the trail is thinned, then older dumps go; the manifest says so
  --show            print the manifest and every redaction; write nothing
  --help, -h        this help

exit codes: 0 written (or shown); 2 usage error or nothing to bundle.`

function parseBytes(v) {
  const m = /^(\d+(?:\.\d+)?)\s*(|b|k|kb|kib|m|mb|mib)$/i.exec(String(v).trim())
  if (!m) return NaN
  const unit = { '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: MIB, mb: MIB, mib: MIB }[m[2].toLowerCase()]
  return Math.floor(Number(m[1]) * unit)
}

function main(argv, io = { out: process.stdout, err: process.stderr }) {
  const opts = {}
  const args = []
  const take = (i, a) => {
    if (i + 1 >= argv.length) throw new TypeError(`${a} needs a value`)
    return argv[i + 1]
  }
  try {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]
      const eq = /^(--[a-z-]+)=(.*)$/.exec(a)
      const flag = eq ? eq[1] : a
      const value = () => (eq ? eq[2] : take(i++, a))
      if (flag === '--help' || flag === '-h') {
        io.out.write(USAGE + '\n')
        return 0
      } else if (flag === '-o' || flag === '--output') opts.output = value()
      else if (flag === '--all') opts.all = true
      else if (flag === '--session') opts.session = value()
      else if (flag === '--since') opts.since = value()
      else if (flag === '--pid') {
        const v = value()
        if (!/^[1-9]\d{0,9}(@\d{1,16})?$/.test(v)) throw new TypeError(`--pid: expected a process id, or PID@START, got ${JSON.stringify(v)}`)
        opts.pid = v
      } else if (flag === '--with-snapshots') opts.withSnapshots = true
      else if (flag === '--show') opts.show = true
      else if (flag === '--max-bytes') {
        const v = value()
        opts.maxBytes = parseBytes(v)
        if (!Number.isFinite(opts.maxBytes)) throw new TypeError(`--max-bytes: expected a size such as 2097152, 512K or 2MiB, got ${v}`)
      } else if (a.startsWith('-') && a !== '-') throw new TypeError(`unknown option: ${a}`)
      else args.push(a)
    }
    if (args.length > 1) throw new TypeError(`one directory, got ${args.length}`)
  } catch (e) {
    io.err.write(`${e.message}\n${USAGE}\n`)
    return 2
  }
  const dir = args[0] ?? 'diagnostics'
  try {
    if (opts.show) {
      const p = plan(dir, opts)
      io.out.write(show(p))
      return 0
    }
    const r = writeBundle(dir, opts)
    io.out.write(report(r))
    return 0
  } catch (e) {
    io.err.write(`bundle: ${e.message}\n`)
    return 2
  }
}

const kib = (b) => (b >= MIB ? `${fixed(b / MIB, 2)} MiB` : `${fixed(b / 1024, 1)} KiB`)

function describe(m) {
  const lines = []
  for (const p of m.selection.processes)
    lines.push(`  process ${p.pid ?? '?'} (session ${p.sessionIds.join(', ') || '?'}): ${p.outcome}${p.cause ? ` (${p.cause})` : ''}`)
  lines.push(`Files:`)
  for (const f of m.files) lines.push(`  ${f.name.padEnd(58)} ${String(f.bytes).padStart(9)} bytes`)
  lines.push(`Size budget: ${m.budget.maxBytes} bytes; ${m.budget.note}.`)
  lines.push(`Redacted: ${m.redaction.applied.map((r) => `${r.what} → ${r.replacement} (${r.replaced} place${r.replaced === 1 ? '' : 's'})`).join(', ')}.`)
  const n = m.notIncluded
  const left = [
    n.otherProcessesFiles && `${n.otherProcessesFiles} file(s) of other processes`,
    n.temporaryFiles && `${n.temporaryFiles} temporary file(s)`,
    n.foreignFiles && `${n.foreignFiles} file(s) not written by memory-diagnostics-dumper`,
    n.tornRecorderLines && `${n.tornRecorderLines} torn recorder line(s)`,
  ].filter(Boolean)
  if (left.length) lines.push(`Left out: ${left.join(', ')}.`)
  for (const f of n.files) lines.push(`  ${f.name}: ${f.reason}`)
  return lines.join('\n') + '\n'
}

function report(r) {
  const m = r.plan.manifest
  return `Wrote ${r.path} (${kib(r.bytes)}, ${r.bytes} bytes): ${m.selection.rule}\n${describe(m)}Attach it to the bug report; \`memory-diagnostics-dumper inspect ${path.basename(r.path)}\` reads it.\n`
}

function show(p) {
  const lines = [
    `Would bundle ${kib(p.zip.length)} (${p.zip.length} bytes): ${p.manifest.selection.rule}`,
    describe(p.manifest).trimEnd(),
    '',
    `Redactions (${p.redaction.changed}):`,
  ]
  for (const c of p.redaction.changes) lines.push(`  ${c.file} ${c.at}: ${JSON.stringify(c.before)} → ${JSON.stringify(c.after)}`)
  if (p.redaction.changed > p.redaction.changes.length) lines.push(`  … and ${p.redaction.changed - p.redaction.changes.length} more`)
  lines.push('', 'manifest.json:', JSON.stringify(p.manifest, null, 2), '', 'Nothing was written.')
  return lines.join('\n') + '\n'
}

module.exports = { main, USAGE }
