'use strict'
// A preload module (`node -r`), which Node also runs in every worker thread: it harms the
// stack helper thread as HARM_HELPER says.
//   oom:         at its first capture, the thread allocates until its own heap limit ends it;
//   exit:        at its first capture, the thread calls process.exit(7);
//   throw:       at its first capture, a process warning is emitted on the thread, and an
//                exception nobody catches is thrown as soon as the connect returns;
//   exitAtStart: every helper thread calls process.exit(7) as it starts;
//   postThrows:  every inspector request the helper sends throws an error whose message holds
//                a secret and a path in the home directory (a host's tracer would).
// The first three harm only the first helper thread of the process (HARM_MARK, a file, says
// one was), so a replacement works, and append a line to HARM_MARK.starts per helper start;
// exitAtStart appends a line to HARM_MARK per start.
const { isMainThread, workerData } = require('node:worker_threads')
const fs = require('node:fs')

const harm = process.env.HARM_HELPER
const mark = process.env.HARM_MARK
const isHelper = !isMainThread && workerData !== null && typeof workerData === 'object' && 'pollMs' in workerData
if (isHelper && harm === 'exitAtStart') {
  fs.appendFileSync(mark, `${process.pid}\n`)
  process.exit(7)
}
if (isHelper && harm === 'postThrows') {
  require('node:inspector').Session.prototype.post = () => {
    throw new Error(`tracer: token=ghp_SECRET123 ${require('node:os').homedir()}/.ssh/id_rsa refused`)
  }
}
if (isHelper && harm && mark) {
  fs.appendFileSync(`${mark}.starts`, `${process.pid}\n`)
  const inspector = require('node:inspector')
  const connect = inspector.Session.prototype.connectToMainThread
  inspector.Session.prototype.connectToMainThread = function (...args) {
    let first = false
    try {
      fs.writeFileSync(mark, String(process.pid), { flag: 'wx' })
      first = true
    } catch {}
    if (first && harm === 'oom') {
      const hoard = []
      for (;;) hoard.push(new Array(1e4).fill(hoard.length))
    }
    if (first && harm === 'exit') process.exit(7)
    if (first && harm === 'throw') {
      // As Node's inspector does when a session's callback throws. The exception comes as soon
      // as this call returns (process.nextTick), before any answer from the main thread can:
      // a setImmediate raced the answer, which a loaded machine could deliver first.
      process.emitWarning(new Error('harm-helper: a warning on the helper thread'))
      process.nextTick(() => {
        throw new TypeError('harm-helper: thrown in the helper thread')
      })
    }
    return connect.apply(this, args)
  }
}
