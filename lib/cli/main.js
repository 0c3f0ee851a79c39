'use strict'
// The command line (`memory-diagnostics-dumper <command>`): --version, help, and the
// commands, each in its own module: `inspect` (inspect/command.js) and `bundle` (bundle/command.js,
// loaded only for it).

const { clean } = require('./inspect/values')
const { version } = require('./version')

const USAGE = `usage: memory-diagnostics-dumper <command> [options]

commands:
  inspect <dir|file...>   summarise dump and recorder files, or a bundle (inspect --help for more)
  bundle [dir]            one redacted .zip of a crash for a bug report (bundle --help for more)
  help [command]          this help, or a command's
options: --help, -h       this help;  --version, -V   the version`

function main(argv, io = { out: process.stdout, err: process.stderr }) {
  const [cmd, ...rest] = argv
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') {
    io.out.write(`memory-diagnostics-dumper ${version()}\n`)
    return 0
  }
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    io.out.write(
      (rest[0] === 'inspect' ? require('./inspect/command.js').INSPECT_USAGE : rest[0] === 'bundle' ? require('./bundle/command.js').USAGE : USAGE) + '\n',
    )
    return 0
  }
  if (cmd === 'bundle') return require('./bundle/command.js').main(rest, io)
  if (cmd === 'inspect') return require('./inspect/command.js').main(rest, io)
  io.err.write(`${cmd ? `unknown command: ${clean(cmd)}\n` : ''}${USAGE}\n`)
  return 2
}

module.exports = { main, USAGE }
