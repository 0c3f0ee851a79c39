'use strict'
// The stack helper thread (`watchdog.captureStack`; started by lib/dumper/stack-helper.js). It
// polls the addon for a request (an atomic load every `pollMs`: it never blocks, so it
// ends with the process), and answers one by connecting an inspector session to the main
// thread and asking it to evaluate STACK_READER. Node hands a cross-thread message to a
// busy main thread by a V8 interrupt, served at the next check the running JS makes, so the
// reader runs on top of the code that blocks the loop and reads its frames.
//
// Why an evaluation, and not the debugger or the profiler (measured, docs/blocked-loop-stacks.md):
// `Debugger.enable` makes the main thread announce every script it has (a hash of each
// source, a copy of each source map URL): 2.5 s of added stall with 100 MB of inline source
// maps. `Profiler.start` makes it log every compiled function, walking the heap: 1 s on a
// 1.2 GB heap. The evaluation costs the main thread a few milliseconds whatever the host
// holds, pauses nothing (a host's own debugger sees no pause) and leaves this thread
// holding nothing of the host's. It reads names and places only (function, script, line,
// column), never scopes or values, and disconnects, so no session is left open to keep the
// process waiting at exit.
// Nothing printed on this thread may reach the host, nor pile up unread: the main thread
// takes this thread's stdout and stderr and never reads them (lib/dumper/stack-helper.js),
// and what is written is dropped here (Node's own warnings on this thread included).
for (const stream of [process.stdout, process.stderr]) {
  stream.write = (_chunk, encoding, callback) => {
    const done = typeof encoding === 'function' ? encoding : callback
    if (typeof done === 'function') queueMicrotask(() => done())
    return true
  }
}
const { workerData } = require('node:worker_threads')
const inspector = require('node:inspector')
const native = require(workerData.native)
const { READER_KEY } = require('./stack-reader.js')

const { budgetMs, pollMs, maxFrames } = workerData
const waitMs = budgetMs - 2 * pollMs
/** Names the reader's own frames, so that they are left out of the stack. */
const READER_URL = 'memory-diagnostics-dumper:stack-reader'

/**
 * Runs on the main thread: it calls the reader lib/dumper/stack-reader.js put there (made
 * from the built-ins as they were when the package asked, so nothing of the host's runs).
 */
const STACK_READER = `typeof ${READER_KEY} === 'function' ? ${READER_KEY}(${maxFrames + 2}) : 'Ethe stack reader is not on the main thread'
//# sourceURL=${READER_URL}`

/** The capture under way: what ends it with an answer (null: none). */
let current = null

/** What may be said of an exception of unknown origin: its kind, never its message. */
function kindOf(e) {
  const name = typeof e?.name === 'string' ? e.name.slice(0, 40) : typeof e
  return typeof e?.code === 'string' ? `${name} ${e.code.slice(0, 40)}` : name
}

function capture(generation) {
  let session = null
  let timer = null
  const finish = (answer) => {
    if (current !== finish) return
    current = null
    clearTimeout(timer)
    try {
      session?.disconnect()
    } catch {}
    try {
      native.stackHelperDeliver(generation, JSON.stringify(answer))
    } catch {}
  }
  current = finish
  timer = setTimeout(
    () =>
      finish({
        error: `the main thread ran no JavaScript within ${waitMs} ms (blocked in native code, or in garbage collection), or the inspector did not pass the request on`,
      }),
    waitMs,
  )
  let step = 'be made'
  try {
    session = new inspector.Session()
    step = 'connect to the main thread'
    session.on('error', (e) => finish({ error: `the inspector session failed (${kindOf(e)})` }))
    session.connectToMainThread()
    step = 'send the request'
    session.post('Runtime.evaluate', { expression: STACK_READER, returnByValue: true, silent: true }, (e, r) => {
      // Node turns an exception thrown here into a warning on this thread: none may be.
      try {
        finish(e ? { error: `the inspector did not evaluate the stack reader (${kindOf(e)})` } : answerOf(r))
      } catch (thrown) {
        finish({ error: `the stack reader's answer could not be read (${kindOf(thrown)})` })
      }
    })
  } catch (e) {
    finish({ error: `the inspector session could not ${step} (${kindOf(e)})` })
  }
}

/** A string the addon can read: a lone surrogate (a name made so) becomes U+FFFD. */
function wellFormed(s) {
  return typeof s.toWellFormed === 'function'
    ? s.toWellFormed()
    : s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
}

/** The frames in the reader's answer (lib/dumper/stack-reader.js says its format), or why there are none. */
function answerOf(r) {
  const value = r?.result?.value
  if (typeof value !== 'string' || r.exceptionDetails) return { error: 'the stack reader gave no answer' }
  if (value[0] === 'E') return { error: wellFormed(value.slice(1, 400)) }
  if (value[0] !== 'F') return { error: 'the stack reader gave no answer' }
  let at = 1
  const text = () => {
    const colon = value.indexOf(':', at)
    const n = colon < 0 ? Number.NaN : Number(value.slice(at, colon))
    if (!Number.isInteger(n) || n < 0 || colon + 1 + n > value.length) throw new Error('malformed')
    at = colon + 1 + n
    return wellFormed(value.slice(colon + 1, at))
  }
  const number = () => {
    const semi = value.indexOf(';', at)
    if (semi < 0) throw new Error('malformed')
    const n = value.slice(at, semi)
    at = semi + 1
    return /^\d{1,9}$/.test(n) ? Number(n) : null
  }
  const frames = []
  while (at < value.length && frames.length < maxFrames) {
    const f = { function: text(), script: text(), line: number(), column: number() }
    // The evaluated expression's own frame. An empty name is shown as (anonymous) by the addon.
    if (f.script !== READER_URL) frames.push(f)
  }
  return { frames }
}

// Nothing of this thread's may reach the host's stderr (the main thread also takes its
// stdio: lib/dumper/stack-helper.js), and nothing may end it: an exception nobody caught,
// whoever threw it, answers the capture under way and is otherwise dropped.
const failed = (e) => {
  try {
    current?.({ error: `the stack helper thread failed during the capture (${kindOf(e)})` })
  } catch {}
}
process.on('uncaughtException', failed)
process.on('unhandledRejection', failed)
// The addon notices this thread's end on the thread itself (its environment's cleanup); a
// process.exit() in it says why first. An end without a word is its heap's limit, or a
// terminate(): no JS runs then.
process.on('exit', (code) => {
  try {
    native.stackHelperEnding(`it exited with code ${code}`)
  } catch {}
})
native.stackHelperStarted()
setInterval(() => {
  if (current !== null) return
  const generation = native.stackHelperPoll()
  if (generation > 0) capture(generation)
}, pollMs)
