'use strict'
// The stack reader of `watchdog.captureStack`: a function put on the main thread's global
// object when the first dumper asks for stacks, which the helper thread
// (lib/dumper/stack-worker.js) has the main thread run through the inspector while the loop
// is blocked. It is made here, on the main thread, from the built-ins as they are when the
// package asks (not as the host may leave them later), so a capture runs nothing of the
// host's: no replaced Array.prototype.push, Object.defineProperty, Error.captureStackTrace or
// CallSite method, no accessor on Object.prototype or Array.prototype (descriptors are
// objects without a prototype, and the answer is one string built by concatenation, never an
// array filled by index), and a host's replacement of `Error` or `globalThis` changes nothing.

/** The global property the reader lives in; the answer's format goes with its name. */
const READER_KEY = '__memoryDiagnosticsDumperStackReader1'

/**
 * Puts the reader on the global object, once per process (a second copy of the package finds
 * the first's, which answers in the same format: the format is in the name). Returns why it
 * could not, or null.
 */
function install() {
  const O = Object
  const getDesc = O.getOwnPropertyDescriptor
  const define = O.defineProperty
  try {
    if (getDesc(globalThis, READER_KEY) !== undefined) return null
    const E = Error
    const apply = Reflect.apply
    const hasOwn = O.hasOwn
    const isExtensible = O.isExtensible
    const isArray = Array.isArray
    const notANumber = Number.isNaN
    const capture = E.captureStackTrace
    const descriptor = (d) =>
      hasOwn(d, 'get') || hasOwn(d, 'set')
        ? { __proto__: null, get: d.get, set: d.set, enumerable: d.enumerable, configurable: d.configurable }
        : { __proto__: null, value: d.value, writable: d.writable, enumerable: d.enumerable, configurable: d.configurable }
    const callSites = (_, sites) => sites

    /** Reads the current stack's call sites through a formatter of its own, puts Error back. */
    const sites = (limit, above) => {
      const fmt = getDesc(E, 'prepareStackTrace')
      const lim = getDesc(E, 'stackTraceLimit')
      if (!isExtensible(E) || (fmt && !fmt.configurable) || (lim && !lim.configurable)) {
        return 'the host has made Error.prepareStackTrace or Error.stackTraceLimit unchangeable (the stack is read through them)'
      }
      const holder = { __proto__: null }
      // Node formats through `globalThis.Error.prepareStackTrace`, read at that moment: a
      // host's stand-in for Error (a Proxy) would run; the real one stands in meanwhile.
      const global = getDesc(globalThis, 'Error')
      const swap = global !== undefined && global.configurable && !(hasOwn(global, 'value') && global.value === E)
      try {
        if (swap) define(globalThis, 'Error', { __proto__: null, value: E, writable: true, enumerable: false, configurable: true })
        define(E, 'prepareStackTrace', { __proto__: null, value: callSites, configurable: true, writable: true })
        define(E, 'stackTraceLimit', { __proto__: null, value: limit, configurable: true, writable: true })
        apply(capture, E, [holder, above])
        const calls = getDesc(holder, 'stack')
        return calls === undefined ? undefined : calls.get === undefined ? calls.value : apply(calls.get, holder, [])
      } finally {
        if (swap) define(globalThis, 'Error', descriptor(global))
        if (fmt) define(E, 'prepareStackTrace', descriptor(fmt))
        else delete E.prepareStackTrace
        if (lim) define(E, 'stackTraceLimit', descriptor(lim))
        else delete E.stackTraceLimit
      }
    }

    // The CallSite methods, taken from a call site now.
    const probe = sites(1, install)
    const first = isArray(probe) ? probe[0] : undefined
    if (first === undefined) return typeof probe === 'string' ? probe : 'no call site could be read'
    const site = O.getPrototypeOf(first)
    const functionName = site.getFunctionName
    const scriptName = site.getScriptNameOrSourceURL
    const lineNumber = site.getLineNumber
    const columnNumber = site.getColumnNumber

    const field = (s) => (typeof s === 'string' ? `${s.length}:${s}` : '0:')
    const number = (n) => (typeof n === 'number' && !notANumber(n) ? `${n}` : '')

    /**
     * Returns 'F' and, per frame innermost first, four fields (function, script, line,
     * column), each string as `<length>:<text>`, each number followed by ';'; or 'E' and why
     * there are none. The evaluated expression's own frame is the helper's to leave out.
     */
    const readStack = function readStack(limit) {
      let calls
      try {
        calls = sites(limit, readStack)
      } catch {
        return 'Ethe stack reader could not read the stack (Error.captureStackTrace failed)'
      }
      if (typeof calls === 'string') return `E${calls}`
      if (!isArray(calls)) return 'Ethe main thread was formatting another stack trace'
      let out = 'F'
      for (let i = 0; i < calls.length; i++) {
        const c = calls[i]
        out += `${field(apply(functionName, c, []))}${field(apply(scriptName, c, []))}${number(apply(lineNumber, c, []))};${number(apply(columnNumber, c, []))};`
      }
      return out
    }
    define(globalThis, READER_KEY, { __proto__: null, value: readStack, enumerable: false, writable: false, configurable: false })
    return null
  } catch (e) {
    return `the stack reader could not be set up (${typeof e?.name === 'string' ? e.name.slice(0, 40) : typeof e})`
  }
}

module.exports = { READER_KEY, install }
