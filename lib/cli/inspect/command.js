'use strict'
// `memory-diagnostics-dumper inspect` (its command line is `main`, reached through
// lib/cli/main.js): turns dump files and recorder files into an answer for the maintainer who
// receives them. Plain Node, no dependencies, works without the
// native addon. See docs/inspect.md.

const fs = require('node:fs')
const path = require('node:path')
const { MAX_DEPTH } = require('../json')
const { version } = require('../version')
const { reason } = require('./read')
const { validate } = require('./schema')
const { text } = require('./text')
const { html, svg } = require('./timeline')
const { LIMITS, clean, tilde } = require('./values')
const { GROWTH_MIN_BYTES, summarize } = require('./verdict')

// ---- the command line -----------------------------------------------------------------------------

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

/** `inspect`'s command line: `rest` is what follows the command's name; returns the exit code. */
function main(rest, io = { out: process.stdout, err: process.stderr }) {
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
    // Nothing readable: still the whole account (which files, why, and the ones not read).
    if (json) io.out.write(jsonText(summary))
    for (const n of summary.notes) io.err.write(`${clean(tilde(n), 400)}\n`)
    for (const p of summary.problems) io.err.write(`${clean(tilde(p.file), 400)}: ${p.error}\n`)
    return 2
  }
  for (const [file, make] of [
    [svgOut, svg],
    [htmlOut, html],
  ]) {
    if (!file) continue
    const error = writeWhole(file, make(summary))
    if (error) {
      io.err.write(`cannot write ${clean(file, 400)}: ${error}; nothing was left there\n`)
      return 2
    }
  }
  if (json) io.out.write(jsonText(summary))
  else io.out.write(text(summary) + '\n')
  return summary.problems.some((p) => !p.empty) ? 1 : 0
}

/**
 * Writes `data` to `file` whole or not at all: into a temporary file beside it, every write's
 * count checked (a full disk gives a short write first, then ENOSPC), synced, its size
 * compared, then renamed over `file`. Returns null, or the reason; on failure the temporary
 * file is removed and `file` is as it was.
 */
function writeWhole(file, data) {
  const buf = Buffer.from(data, 'utf8')
  // A device or a pipe (`--svg /dev/stdout`) is written in place, never replaced.
  let special = false
  try {
    special = !fs.lstatSync(file).isFile()
  } catch {}
  const tmp = special ? file : path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`)
  let fd = null
  try {
    fd = fs.openSync(tmp, special ? 'w' : 'wx', 0o644)
    for (let off = 0; off < buf.length; ) {
      const n = fs.writeSync(fd, buf, off, buf.length - off)
      if (n <= 0) throw Object.assign(new Error('short write'), { code: 'ENOSPC' })
      off += n
    }
    if (!special) {
      fs.fsyncSync(fd)
      if (fs.fstatSync(fd).size !== buf.length) throw Object.assign(new Error('size'), { code: 'size differs after writing' })
    }
    fs.closeSync(fd)
    fd = null
    if (!special) fs.renameSync(tmp, file)
    return null
  } catch (e) {
    if (fd != null) fs.closeSync(fd)
    try {
      if (!special) fs.unlinkSync(tmp)
    } catch {}
    return e.code === 'ENOSPC' ? 'no space left on the device' : reason(e)
  }
}

function jsonText(summary) {
  const { processes, problems, notes } = summary
  return (
    JSON.stringify(
      {
        processes: processes.map(({ samples, firstMs, ...p }) => p),
        problems,
        notes,
        limits: { ...LIMITS, jsonDepth: MAX_DEPTH, growthMinBytes: GROWTH_MIN_BYTES },
      },
      null,
      2,
    ) + '\n'
  )
}

module.exports = { main, INSPECT_USAGE, summarize, validate, svg, html, text, LIMITS }

if (require.main === module) process.exitCode = main(process.argv.slice(2))
