'use strict'
// The main-thread half of `watchdog.captureStack`: the helper worker thread that answers
// the watchdog's stack requests (stack-worker.js; src/recorder/stack_capture.rs says why a
// worker and the inspector). One per process, started by the first dumper that asks for
// it and ended when the last one is closed or collected. Loaded only when a dumper asks:
// nothing here costs anything otherwise.
//
// A helper that ends on its own (its heap's limit, a process.exit() in it) is replaced when
// the event loop next runs: at once, at most RESTARTS_PER_MINUTE times in any minute, then
// at the first watchdog heartbeat (`tick`) once the minute is over, so a helper that cannot
// live costs a few thread starts a minute, not a loop of them. The addon knows of the end
// at once, from the helper's own thread (a capture under way says why); this side says why
// none runs until the next one does.
const path = require('node:path')
const { budgetMs, pollMs, maxFrames } = require('../contract.json').stackCapture

/** Replacements of a helper that ended, in any minute. */
const RESTARTS_PER_MINUTE = 3
/** The helper's own heap limit: it holds one capture's frames at most. */
const HEAP_MB = 32

let native = null
let worker = null
let users = 0
/** When the helpers that ended were replaced (the last minute's), and why the last ended. */
let restarts = []
let lastEnd = null
const released = new FinalizationRegistry((handle) => handle.release())

/** What may be said of an exception of unknown origin (a host's replaced Worker, say): its kind, never its message. */
function kindOf(e) {
  const name = typeof e?.name === 'string' ? e.name.slice(0, 40) : typeof e
  return typeof e?.code === 'string' ? `${name} ${e.code.slice(0, 40)}` : name
}

/**
 * Asks for the helper on behalf of `owner` (the public dumper). Returns `{ release() }`,
 * or `{ error }` when no helper can serve a dumper here; `native` is the addon the
 * package entry loaded.
 */
function acquire(owner, addon) {
  const { isMainThread } = require('node:worker_threads')
  if (!isMainThread) {
    return { error: "captureStack needs a dumper on the process's main thread (the helper reads the main thread's stack)" }
  }
  if (typeof addon.stackHelperPoll !== 'function') return { error: 'this build of the addon has no stack helper' }
  try {
    const inspector = require('node:inspector')
    if (typeof inspector.Session !== 'function') throw new Error('inspector.Session is missing')
  } catch (e) {
    return { error: `node:inspector is not available (${kindOf(e)})` }
  }
  const unread = require('./stack-reader.js').install()
  if (unread !== null) return { error: unread }
  native = addon
  users++
  if (worker === null) replace()
  let done = false
  const handle = {
    release() {
      if (done) return
      done = true
      released.unregister(handle)
      if (--users === 0) stop()
    },
  }
  released.register(owner, handle, handle)
  return handle
}

/** Starts a helper if none runs and the restart rule allows it. */
function replace() {
  if (worker !== null || users === 0) return
  if (lastEnd === null) return start()
  const now = Date.now()
  restarts = restarts.filter((t) => now - t < 60_000)
  if (restarts.length >= RESTARTS_PER_MINUTE) {
    native.stackHelperAbsent(
      `${lastEnd}; it was replaced ${RESTARTS_PER_MINUTE} times within a minute, so the next one starts a minute after the first of them`,
    )
    return
  }
  restarts.push(now)
  start()
}

function start() {
  const { Worker } = require('node:worker_threads')
  native.stackHelperAbsent(lastEnd === null ? 'it had not started yet' : `${lastEnd}; a new one is starting`)
  let w
  let failure = null
  try {
    const options = {
      workerData: { native: require.resolve('../../native.js'), budgetMs, pollMs, maxFrames },
      resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 2 },
      name: 'memory-diagnostics-dumper stack helper',
      // Its stdout and stderr are ours, not the host's: nothing printed on that thread
      // (Node's own warnings there included) reaches the host's. They are never read
      // (reading would keep the process running), and the thread drops what is written.
      stdout: true,
      stderr: true,
    }
    // The host's profiling flags are for its own threads: with them, this thread wrote a
    // profile of its own beside the host's (--cpu-prof, --heap-prof, --prof). Only then is
    // the list given: a worker refuses some flags the process takes (--abort-on-uncaught-exception).
    const flags = process.execArgv.filter((f) => !/^--(cpu-prof|heap-prof|prof)(?![a-z])/.test(f))
    const file = path.join(__dirname, 'stack-worker.js')
    try {
      w = new Worker(file, flags.length === process.execArgv.length ? options : { ...options, execArgv: flags })
    } catch (e) {
      if (e?.code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw e
      w = new Worker(file, options)
    }
    // Never keeps the process running; the process ends it at exit.
    w.unref()
    w.on('error', (e) => {
      failure = e
    })
    w.on('exit', (code) => {
      if (worker !== w) return
      worker = null
      lastEnd =
        failure?.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? `it ran out of its heap (${HEAP_MB} MiB)`
          : failure
            ? `it failed (${kindOf(failure)})`
            : `it exited with code ${code}`
      native.stackHelperAbsent(lastEnd)
      warn(`the watchdog's stack helper thread ended (${lastEnd}); it is replaced, at most ${RESTARTS_PER_MINUTE} times a minute`)
      replace()
    })
  } catch (e) {
    try {
      Promise.resolve(w?.terminate()).catch(() => {})
    } catch {}
    lastEnd = `it could not start (${kindOf(e)})`
    native.stackHelperAbsent(lastEnd)
    warn(`watchdog stacks are off: the helper thread could not start (${kindOf(e)})`)
    return
  }
  worker = w
}

function stop() {
  const w = worker
  worker = null
  if (w === null) return
  native.stackHelperEnding('no dumper asks for stacks any more')
  // A host's stand-in for Worker (a test double) may answer with anything, or throw.
  try {
    Promise.resolve(w.terminate()).catch(() => {})
  } catch {}
}

/** On each watchdog heartbeat (the loop is alive): a helper held back by the rule starts. */
function tick() {
  if (worker === null && users > 0 && lastEnd !== null) replace()
}

let warned = false
function warn(message) {
  if (warned) return
  warned = true
  try {
    process.emitWarning(message, { type: 'MemoryDiagnosticsDumperWarning', code: 'StackCaptureUnavailable' })
  } catch {}
}

module.exports = { acquire, tick }
