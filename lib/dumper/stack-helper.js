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

function firstLine(e) {
  return String((e && e.message) || e).split('\n')[0]
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
    return { error: `node:inspector is not available (${firstLine(e)})` }
  }
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
    w = new Worker(path.join(__dirname, 'stack-worker.js'), {
      workerData: { native: require.resolve('../../native.js'), budgetMs, pollMs, maxFrames },
      resourceLimits: { maxOldGenerationSizeMb: HEAP_MB, maxYoungGenerationSizeMb: 2 },
      name: 'memory-diagnostics-dumper stack helper',
      // Its stdout and stderr are ours, not the host's: nothing printed on that thread
      // (Node's own warnings there included) reaches the host's. They are never read
      // (reading would keep the process running), and the thread drops what is written.
      stdout: true,
      stderr: true,
    })
  } catch (e) {
    lastEnd = `it could not start (${firstLine(e)})`
    native.stackHelperAbsent(lastEnd)
    warn(`watchdog stacks are off: the helper thread could not start (${firstLine(e)})`)
    return
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
          ? `it failed (${failure.name ?? 'an exception'}${failure.code ? ` ${failure.code}` : ''})`
          : `it exited with code ${code}`
    native.stackHelperAbsent(lastEnd)
    warn(`the watchdog's stack helper thread ended (${lastEnd}); it is replaced, at most ${RESTARTS_PER_MINUTE} times a minute`)
    replace()
  })
  worker = w
}

function stop() {
  const w = worker
  worker = null
  if (w === null) return
  native.stackHelperEnding('no dumper asks for stacks any more')
  w.terminate().catch(() => {})
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
