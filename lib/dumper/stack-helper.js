'use strict'
// The main-thread half of `watchdog.captureStack`: the helper worker thread that answers
// the watchdog's stack requests (stack-worker.js; src/recorder/stack_capture.rs says why a
// worker and the inspector). One per process, started by the first dumper that asks for
// it and ended when the last one is closed or collected. Loaded only when a dumper asks:
// nothing here costs anything otherwise.
const path = require('node:path')
const { budgetMs, pollMs, maxFrames } = require('../contract.json').stackCapture

let native = null
let worker = null
let users = 0
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
  if (worker === null) start()
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

function start() {
  const { Worker } = require('node:worker_threads')
  native.stackHelperState(false, null)
  let w
  try {
    w = new Worker(path.join(__dirname, 'stack-worker.js'), {
      workerData: { native: require.resolve('../../native.js'), budgetMs, pollMs, maxFrames },
      // A bounded heap of its own: it holds one capture's frames at most.
      resourceLimits: { maxOldGenerationSizeMb: 32, maxYoungGenerationSizeMb: 2 },
      name: 'memory-diagnostics-dumper stack helper',
    })
  } catch (e) {
    native.stackHelperState(false, `the helper thread could not start (${firstLine(e)})`)
    warn(`watchdog stacks are off: the helper thread could not start (${firstLine(e)})`)
    return
  }
  // Never keeps the process running; the process ends it at exit.
  w.unref()
  w.on('error', (e) => {
    if (worker === w) native.stackHelperState(false, `the helper thread failed (${firstLine(e)})`)
    warn(`watchdog stacks are off: the helper thread failed (${firstLine(e)})`)
  })
  w.on('exit', (code) => {
    if (worker !== w) return
    worker = null
    native.stackHelperState(false, `the helper thread exited (code ${code})`)
  })
  worker = w
}

function stop() {
  const w = worker
  worker = null
  if (w === null) return
  native.stackHelperState(false, 'no dumper asks for stacks any more')
  w.terminate().catch(() => {})
}

let warned = false
function warn(message) {
  if (warned) return
  warned = true
  try {
    process.emitWarning(message, { type: 'MemoryDiagnosticsDumperWarning', code: 'StackCaptureUnavailable' })
  } catch {}
}

module.exports = { acquire }
