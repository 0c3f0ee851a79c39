'use strict'
// How the process ends, for the recorder's last `exit` record (docs/schema.md): the exit
// code, and whether an uncaught exception or an unhandled rejection ended it (with the
// error's class name and the innermost frame of the host's own code where it was thrown,
// never its message), `process.exit()` was called, or the event loop emptied. Observed,
// never handled: Node's `uncaughtExceptionMonitor` sees an error without changing what
// happens to it (an `unhandledRejection` listener would, so there is none: under Node's
// default `--unhandled-rejections=throw` such a rejection reaches the monitor as an uncaught
// error). Whether `process.exit()` was called is read from the stack of the `exit` event.
// Loaded by the first dumper that keeps a recorder trail, never by require() or a dump.

/** The uncaught error that nothing handled, as recorded; null while there is none. */
let fatal = null
let installed = false

function install() {
  if (installed) return
  installed = true
  process.on('uncaughtExceptionMonitor', onUncaught)
}

/** Whether Node will hand the error to something of the host's instead of ending the process. */
function handled() {
  if (process.listenerCount('uncaughtException') > 0) return true
  return typeof process.hasUncaughtExceptionCaptureCallback === 'function' && process.hasUncaughtExceptionCaptureCallback()
}

function onUncaught(error, origin) {
  try {
    if (handled()) return
    fatal = { how: origin === 'unhandledRejection' ? 'unhandledRejection' : 'uncaughtException', errorClass: classOf(error), frame: thrownAt(error) }
  } catch {}
}

/** The class name of what was thrown (`TypeError`), or its type when it is no object (`string`). */
function classOf(value) {
  if (value === null) return 'null'
  if (typeof value !== 'object' && typeof value !== 'function') return typeof value
  try {
    const c = value.constructor
    const name = typeof c === 'function' && typeof c.name === 'string' ? c.name : ''
    return name || 'Object'
  } catch {
    return 'Object'
  }
}

/** A stack line: `at fn (place:line:column)`, or `at place:line:column`. */
const FRAME = /^\s*at (?:(.*?) \()?(.+?):(\d+):(\d+)\)?$/

/** Node's own code, or no script: where the host's code is not. */
const internal = (script) => script.startsWith('node:') || script.startsWith('internal/') || script === '<anonymous>' || script.startsWith('native ')

/**
 * The innermost frame of the host's own code in the error's stack: outside Node, and outside
 * node_modules where the stack has such a frame. The stack's first lines are the error's name
 * and message, which may hold data and even lines that look like frames, so frames are read
 * only after that header, and only when the header is exactly what the error says it is;
 * otherwise there is no frame. The script goes through the place rule in the addon.
 */
function thrownAt(error) {
  if (error === null || typeof error !== 'object') return null
  let stack
  let header
  try {
    stack = error.stack
    header = Error.prototype.toString.call(error)
  } catch {
    return null
  }
  if (typeof stack !== 'string' || typeof header !== 'string') return null
  // Node puts the source line and a caret before the header of an error thrown by vm code
  // (`displayErrors`): the header is then the first line that is exactly it.
  let at = stack.startsWith(`${header}\n`) ? 0 : stack.indexOf(`\n${header}\n`)
  if (at < 0) return null
  if (at > 0) at += 1
  const frames = []
  for (const line of stack.slice(at + header.length + 1).split('\n', 64)) {
    const m = FRAME.exec(line)
    if (!m) continue
    let fn = m[1] ?? ''
    if (fn.startsWith('async ')) fn = fn.slice(6)
    const script = m[2]
    if (internal(script)) continue
    frames.push({ function: fn, script, line: Number(m[3]), column: Number(m[4]) })
  }
  return frames.find((f) => !/[\\/]node_modules[\\/]/.test(f.script)) ?? frames[0] ?? null
}

/**
 * Whether the `exit` event being emitted came from `process.exit()` (Node's own function in
 * `internal/process/per_thread`), read from V8's structured call sites; the host's
 * `Error.prepareStackTrace` and `stackTraceLimit` are put back before anything else runs.
 */
function fromProcessExit() {
  const prepare = Error.prepareStackTrace
  const limit = Error.stackTraceLimit
  let sites = []
  try {
    Error.prepareStackTrace = (_, callSites) => callSites
    Error.stackTraceLimit = 64
    const holder = {}
    Error.captureStackTrace(holder)
    sites = Array.isArray(holder.stack) ? holder.stack : []
  } catch {
  } finally {
    Error.prepareStackTrace = prepare
    Error.stackTraceLimit = limit
  }
  return sites.some((c) => {
    try {
      return c.getFunctionName() === 'exit' && c.getFileName() === 'node:internal/process/per_thread'
    } catch {
      return false
    }
  })
}

/**
 * The status the process ends with, as its parent sees it: the exit event's code, or the
 * `process.exitCode` an earlier `exit` listener set, as Node passes it to the system (a
 * 32-bit integer; the low 8 bits outside Windows). Undefined when neither is a number.
 */
function statusOf(code) {
  const c = process.exitCode
  const n = typeof c === 'number' || (typeof c === 'string' && c.trim() !== '') ? Number(c) : code
  if (typeof n !== 'number' || !Number.isFinite(n)) return undefined
  const int32 = n | 0
  return process.platform === 'win32' ? int32 : int32 & 0xff
}

/** How the process is ending, for `closeForExit()`, from the `exit` event's code. */
function end(code) {
  const base = { code: statusOf(code) }
  if (fatal !== null) {
    const f = fatal.frame
    return { ...base, how: fatal.how, errorClass: fatal.errorClass, ...(f ? { function: f.function, script: f.script, line: f.line, column: f.column } : {}) }
  }
  return { ...base, how: fromProcessExit() ? 'processExit' : 'loopEnded' }
}

module.exports = { install, end, classOf, thrownAt }
