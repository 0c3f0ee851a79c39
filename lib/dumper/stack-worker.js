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

const { budgetMs, pollMs, maxFrames } = workerData
const waitMs = budgetMs - 2 * pollMs
/** Names the reader's own frames, so that they are left out of the stack. */
const READER_URL = 'memory-diagnostics-dumper:stack-reader'

/**
 * Runs on the main thread, in the host's realm, so it runs nothing of the host's: the
 * stack is read through a formatter of its own (`Error.prepareStackTrace` set and put
 * back as it was, by descriptors, so no accessor of the host's runs), and a host that
 * made those properties unchangeable is told apart instead of being worked around.
 * Returns [function, script, line, column, ...] innermost first, or a string: why not.
 */
const STACK_READER = `(function readStack(limit) {
  'use strict'
  const E = Error, O = Object
  const fmt = O.getOwnPropertyDescriptor(E, 'prepareStackTrace')
  const lim = O.getOwnPropertyDescriptor(E, 'stackTraceLimit')
  if (!O.isExtensible(E) || (fmt && !fmt.configurable) || (lim && !lim.configurable)) {
    return 'the host has made Error.prepareStackTrace or Error.stackTraceLimit unchangeable (the stack is read through them)'
  }
  const holder = {}
  let calls
  try {
    O.defineProperty(E, 'prepareStackTrace', { value: (_, c) => c, configurable: true, writable: true })
    O.defineProperty(E, 'stackTraceLimit', { value: limit, configurable: true, writable: true })
    E.captureStackTrace(holder, readStack)
    calls = holder.stack
  } catch {
    return 'the stack reader could not read the stack (Error.captureStackTrace failed)'
  } finally {
    if (fmt) O.defineProperty(E, 'prepareStackTrace', fmt)
    else delete E.prepareStackTrace
    if (lim) O.defineProperty(E, 'stackTraceLimit', lim)
    else delete E.stackTraceLimit
  }
  if (!Array.isArray(calls)) return 'the main thread was formatting another stack trace'
  const out = []
  for (let i = 0; i < calls.length; i++) {
    const c = calls[i]
    const script = c.getScriptNameOrSourceURL()
    if (script === '${READER_URL}') continue
    out.push(c.getFunctionName() || '', typeof script === 'string' ? script : '', c.getLineNumber(), c.getColumnNumber())
  }
  return out
})(${maxFrames + 2})
//# sourceURL=${READER_URL}`

/** The capture under way: what ends it with an answer (null: none). */
let current = null

function firstLine(e) {
  return String((e && e.message) || e).split('\n')[0]
}

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
    () => finish({ error: `the main thread ran no JavaScript within ${waitMs} ms (blocked in native code, or in garbage collection)` }),
    waitMs,
  )
  try {
    session = new inspector.Session()
    session.on('error', (e) => finish({ error: `the inspector session failed (${kindOf(e)})` }))
    session.connectToMainThread()
    session.post('Runtime.evaluate', { expression: STACK_READER, returnByValue: true, silent: true }, (e, r) => {
      // Node turns an exception thrown here into a warning on this thread: none may be.
      try {
        finish(e ? { error: `Runtime.evaluate failed: ${firstLine(e)}` } : answerOf(r))
      } catch (thrown) {
        finish({ error: `the stack reader's answer could not be read (${kindOf(thrown)})` })
      }
    })
  } catch (e) {
    finish({ error: `the inspector could not connect to the main thread (${firstLine(e)})` })
  }
}

/** The frames in the reader's result, or why there are none. */
function answerOf(r) {
  const value = r?.result?.value
  if (typeof value === 'string') return { error: value }
  if (!Array.isArray(value) || r.exceptionDetails) return { error: 'the stack reader gave no frames' }
  const frames = []
  for (let i = 0; i + 3 < value.length && frames.length < maxFrames; i += 4) {
    frames.push({
      function: String(value[i]), // an empty name is shown as (anonymous) by the addon
      script: String(value[i + 1]),
      line: Number.isInteger(value[i + 2]) ? value[i + 2] : null,
      column: Number.isInteger(value[i + 3]) ? value[i + 3] : null,
    })
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
