'use strict'
// `memory-diagnostics-dumper inspect` (its command line is `main`, reached through
// lib/cli/main.js): turns dump files and recorder files into an answer for the maintainer who
// receives them. Plain Node, no dependencies, works without the
// native addon. See docs/inspect.md.

const fs = require('node:fs')
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
    for (const p of summary.problems) io.err.write(`${clean(tilde(p.file), 400)}: ${p.error}\n`)
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
    io.out.write(
      JSON.stringify(
        {
          processes: processes.map(({ samples, firstMs, ...p }) => p),
          problems,
          notes,
          limits: { ...LIMITS, jsonDepth: MAX_DEPTH, growthMinBytes: GROWTH_MIN_BYTES },
        },
        null,
        2,
      ) + '\n',
    )
  } else io.out.write(text(summary) + '\n')
  return summary.problems.some((p) => !p.empty) ? 1 : 0
}

module.exports = { main, INSPECT_USAGE, summarize, validate, svg, html, text, LIMITS }

if (require.main === module) process.exitCode = main(process.argv.slice(2))
