'use strict'
// The stack helper thread (`watchdog.captureStack`; started by lib/dumper/stack-helper.js). It
// polls the addon for a request (an atomic load every `pollMs`: it never blocks, so it
// ends with the process), and answers one by connecting an inspector session to the main
// thread and pausing it: V8 delivers the pause by an interrupt while JS runs, so the paused
// event holds the stack of the code that blocks the loop. It reads names and places only
// (function, script, line, column), never scopes or values, resumes at once and
// disconnects, so no session is left open to keep the process waiting at exit.
const { workerData } = require('node:worker_threads')
const inspector = require('node:inspector')
const native = require(workerData.native)

const { budgetMs, pollMs, maxFrames } = workerData
const waitMs = budgetMs - 2 * pollMs
let busy = false

function capture(generation) {
  busy = true
  const session = new inspector.Session()
  /** scriptId → URL, from the scriptParsed events `Debugger.enable` sends. */
  const scripts = new Map()
  let done = false
  let timer = null
  const finish = (answer) => {
    if (done) return
    done = true
    clearTimeout(timer)
    try {
      session.disconnect()
    } catch {}
    busy = false
    native.stackHelperDeliver(generation, JSON.stringify(answer))
  }
  timer = setTimeout(() => finish({ error: `the main thread ran no JavaScript within ${waitMs} ms (idle, or blocked in native code)` }), waitMs)
  try {
    session.connectToMainThread()
    session.on('Debugger.scriptParsed', (m) => {
      if (m.params.url) scripts.set(m.params.scriptId, m.params.url)
    })
    session.on('Debugger.paused', (m) => {
      const frames = m.params.callFrames.slice(0, maxFrames).map((f) => ({
        function: f.functionName, // an empty name is shown as (anonymous) by the addon
        script: f.url || scripts.get(f.location.scriptId) || '',
        line: f.location.lineNumber + 1,
        column: (f.location.columnNumber ?? 0) + 1,
      }))
      session.post('Debugger.resume', () => {})
      finish({ frames })
    })
    const failed = (step) => (e) => {
      if (e) finish({ error: `${step} failed: ${String(e.message || e).split('\n')[0]}` })
    }
    session.post('Debugger.enable', failed('Debugger.enable'))
    session.post('Debugger.pause', failed('Debugger.pause'))
  } catch (e) {
    finish({ error: `the inspector could not connect to the main thread (${String(e.message || e).split('\n')[0]})` })
  }
}

native.stackHelperState(true, null)
setInterval(() => {
  if (busy) return
  const generation = native.stackHelperPoll()
  if (generation > 0) capture(generation)
}, pollMs)
