'use strict'
// The public MemoryDiagnosticsDumper, the same over both implementations (the native
// addon and lib/fallback/). It adds what only the JS thread can do cheaply and what keeps
// the crisis path safe for the host:
// - `dump(trigger)` with input omitted collects the figures itself (each omitted field
//   of `input` is collected; a field the host passes wins);
// - `dump()` never throws and never rejects: a bad argument resolves
//   `{ written: false, complete: false, error }` and emits one process warning per
//   distinct problem; the implementation underneath still validates every value;
// - an unusable directory found at construction (`dumper.problem`) is warned about once.
// ---- The input guard: what the class does with dump() and observe() input before the
// implementation sees it: each omitted field collected here (a field the host passes
// wins), and, when reading the host's input threw, a guarded plain copy of it. Part of
// this file (not one of its own) because a file costs the first dumper about 0.4 ms.
// node:v8 costs milliseconds to load: it is loaded at the first dump or observe() (or by
// the deferred warm-up), never by require() of the package.
let v8module = null
function v8Module() {
  if (v8module === null) v8module = require('node:v8')
  return v8module
}
const collectHeapStatistics = () => v8Module().getHeapStatistics()
const collectHeapSpaces = () => v8Module().getHeapSpaceStatistics()

/** `process.getActiveResourcesInfo()` counted by type: `{ TCPWrap: 2, Timeout: 5 }`. */
function activeResources() {
  if (typeof process.getActiveResourcesInfo !== 'function') return undefined
  return countTypes(process.getActiveResourcesInfo())
}

function countTypes(types) {
  const counts = {}
  for (const type of types) counts[type] = (counts[type] || 0) + 1
  return counts
}

/**
 * Beyond this many active resources the fast path counts them here: the addon reads an
 * array element by element through Node-API (each a few calls), which costs more than
 * building the record in JS once the array is long.
 */
const MAX_TYPES_ACROSS = 256

/** The active resources for the fast path: Node's array of types, or its counts when long. */
function resourceTypes() {
  if (typeof process.getActiveResourcesInfo !== 'function') return undefined
  const types = process.getActiveResourcesInfo()
  return types.length <= MAX_TYPES_ACROSS ? types : countTypes(types)
}

/**
 * What a thrown value says, without ever throwing itself: a foreign value may have a
 * throwing `message` getter, a null prototype (no `toString`) or be a Symbol.
 */
function describeThrown(e) {
  try {
    if (e !== null && (typeof e === 'object' || typeof e === 'function')) {
      let message
      try {
        message = e.message
      } catch {}
      if (typeof message === 'string' && message !== '') return message.slice(0, 500)
      let tag = 'object'
      try {
        tag = Object.prototype.toString.call(e).slice(8, -1)
      } catch {}
      return `a thrown ${tag} without a message`
    }
    return String(e).slice(0, 500)
  } catch {
    return 'a thrown value that cannot be described'
  }
}

/** The input fields whose omission is filled in here, and how. */
const COLLECT = {
  heapStatistics: collectHeapStatistics,
  memoryUsage: () => process.memoryUsage(),
  heapSpaces: collectHeapSpaces,
  activeResources,
}
const INPUT_FIELDS = ['heapStatistics', 'memoryUsage', 'heapSpaces', 'activeResources', 'session', 'samples']

/** The host's input with every omitted (undefined) field collected here. */
function fill(input) {
  const given = input ?? {}
  if (typeof given !== 'object' || Array.isArray(given)) return input
  return {
    heapStatistics: given.heapStatistics === undefined ? collectHeapStatistics() : given.heapStatistics,
    memoryUsage: given.memoryUsage === undefined ? process.memoryUsage() : given.memoryUsage,
    heapSpaces: given.heapSpaces === undefined ? collectHeapSpaces() : given.heapSpaces,
    activeResources: given.activeResources === undefined ? activeResources() : given.activeResources,
    session: given.session,
    samples: given.samples,
  }
}

/**
 * The input as plain data, read with every property access guarded: the second try when
 * the first one threw from inside the host's input (a getter, a Proxy trap). A container
 * whose read throws counts as omitted (collected here when it can be, else dropped); a
 * value whose read throws becomes the text `<getter threw>` (a session value is dropped),
 * which both implementations record as a malformed figure: null, with a warning naming
 * the field. `problems` gets one `{ path, what, thrown }` per throwing read; `proxies`
 * counts the containers that are Proxies (an implementation may refuse a Proxy of an
 * array as not an array: the plain copy is one).
 */
const THREW = '<getter threw>'
const { isProxy } = require('node:util').types
function plainInput(input, problems, proxies = { n: 0 }) {
  const read = (obj, key, path) => {
    try {
      return { ok: true, v: obj[key] }
    } catch (e) {
      problems.push({ path, what: 'reading it threw', thrown: describeThrown(e) })
      return { ok: false, v: undefined }
    }
  }
  const keysOf = (obj, path) => {
    try {
      return Object.keys(obj)
    } catch (e) {
      problems.push({ path, what: 'listing its keys threw', thrown: describeThrown(e) })
      return null
    }
  }
  const isArray = (v) => {
    try {
      return Array.isArray(v)
    } catch {
      return false
    }
  }
  // One level of copying below each field: figure maps, entries of arrays of maps. Bounded
  // by the documented limits (contract.json's `input`), never by what the input claims:
  // an array's `length` or an object's number of keys. An array keeps its length (so the
  // implementation still names it in its warning) with only the entries it reads: the
  // first `maxHeapSpaces` heap spaces, the last `maxSamples` samples, the first
  // `maxResourceTypes` of anything else; a map keeps one key more than it may hold.
  const L = limits ?? {}
  const flat = (obj, path, leafOnThrow, field, depth = 0) => {
    if (obj === null || typeof obj !== 'object') return obj
    if (isProxy(obj)) proxies.n++
    if (isArray(obj)) {
      const n = read(obj, 'length', `${path}.length`)
      if (!n.ok || typeof n.v !== 'number' || !(n.v >= 0)) return undefined
      const len = Math.min(Math.floor(n.v), 2 ** 32 - 1)
      const max = field === 'heapSpaces' ? (L.maxHeapSpaces ?? 32) : field === 'samples' ? (L.maxSamples ?? 120) : (L.maxResourceTypes ?? 64)
      const from = field === 'samples' ? Math.max(0, len - max) : 0
      const to = Math.min(len, from + max)
      const out = []
      for (let i = from; i < to; i++) {
        const e = read(obj, i, `${path}[${i}]`)
        out[i] = e.ok ? (depth === 0 ? flat(e.v, `${path}[${i}]`, leafOnThrow, field, 1) : e.v) : leafOnThrow ? THREW : undefined
      }
      out.length = len
      return out
    }
    const keys = keysOf(obj, path)
    if (keys === null) return undefined
    const maxKeys =
      (field === 'samples'
        ? (L.maxSampleKeys ?? 32)
        : field === 'session'
          ? (L.maxSessionKeys ?? 64)
          : field === 'activeResources'
            ? (L.maxResourceTypes ?? 64)
            : 64) + 1
    const out = {}
    for (let j = 0; j < keys.length && j < maxKeys; j++) {
      const k = keys[j]
      const e = read(obj, k, `${path}.${k}`)
      if (e.ok) out[k] = e.v !== null && typeof e.v === 'object' && depth === 0 ? flat(e.v, `${path}.${k}`, leafOnThrow, field, 1) : e.v
      else if (leafOnThrow) out[k] = THREW
    }
    return out
  }
  if (input === undefined || input === null) return fill(input)
  if (typeof input !== 'object' || isArray(input)) return input
  const given = {}
  for (const f of INPUT_FIELDS) {
    const e = read(input, f, `input.${f}`)
    given[f] = e.ok ? flat(e.v, `input.${f}`, f !== 'session', f) : undefined
  }
  const out = {}
  for (const f of INPUT_FIELDS) {
    const collect = COLLECT[f]
    out[f] = given[f] === undefined && collect ? collect() : given[f]
  }
  return out
}

/** dump() called with something else as `this`. */
function strayDump(trigger) {
  const error = 'dump() was called without a MemoryDiagnosticsDumper as `this`; nothing was written'
  warnOnce(strayWarned, `dump(): ${error}`, 'InvalidThis')
  try {
    loadTriggers() // when no dumper was ever made in this process
  } catch {}
  return Promise.resolve({ ...triggerOf(trigger), complete: false, written: false, error })
}

/** How many dump() calls are reading their input now (more than one: a nested dump). */
let reading = 0
/** The answer of a dump() that ran out of stack (the host's recursion): made in advance. */
const OUT_OF_STACK = Promise.resolve(
  Object.freeze({
    complete: false,
    written: false,
    error: 'dump() was called with the JavaScript stack exhausted (a deep recursion in the host); nothing was written',
  }),
)
const WARNING_TYPE = 'MemoryDiagnosticsDumperWarning'
/**
 * The triggers contract.json accepts: read when the first dumper is made, not by require(),
 * and never on the crisis path (a dump may come when the process has no descriptor left).
 */
let triggers = null
/** contract.json's input limits, for the guarded second reading (loaded with the triggers). */
let limits = null
function loadTriggers() {
  if (triggers === null) {
    const contract = require('../contract.json')
    triggers = contract.triggers.accepted
    limits = contract.input
  }
}
/** fast-path.js: loaded by the first warm-up or observe() of a dumper over the native addon. */
let fastPath = null
function accepted(trigger) {
  return typeof trigger === 'string' && triggers !== null && triggers.includes(trigger)
}
/** Distinct warnings per dumper; beyond this the results still carry the error. */
const MAX_WARNINGS = 32

/** `e.code` when it is a short string, without ever throwing. */
function codeOf(e) {
  try {
    const code = e !== null && (typeof e === 'object' || typeof e === 'function') ? e.code : undefined
    return typeof code === 'string' && code.length <= 64 ? code : 'Error'
  } catch {
    return 'Error'
  }
}

/** `{ trigger }` when `trigger` is one the contract accepts, for a refused dump's result. */
function triggerOf(trigger) {
  return accepted(trigger) ? { trigger } : undefined
}

/** Warnings about calls that reached no dumper (a foreign `this`), once per message. */
const strayWarned = new Set()
/** A method called with something else as `this`: nothing to act on, one warning, no throw. */
function stray(method) {
  warnOnce(strayWarned, `${method}(): called without a MemoryDiagnosticsDumper as \`this\`; nothing was done`, 'InvalidThis')
}

function warnOnce(warned, message, code) {
  if (warned.has(message) || warned.size >= MAX_WARNINGS) return
  warned.add(message)
  try {
    process.emitWarning(message, { type: WARNING_TYPE, code })
  } catch {}
}

/** The methods bound to each instance. */
const BOUND = ['dump', 'observe', 'close', 'resetForNewSession']
/**
 * `instance[m]` as its prototype chain has it at the call (not an own property): see the
 * constructor. One function per method name, each reading its name as a constant (a keyed
 * read by a variable name costs observe() twice over).
 */
const DISPATCHERS = {
  dump: (self, base) => {
    const own = (a, b) => {
      let f
      try {
        const p = Object.getPrototypeOf(self)
        f = p === null ? undefined : Reflect.get(p, 'dump', self)
      } catch {
        // Out of stack (a host's deep recursion) or a throwing accessor: this class's dump().
        return OUT_OF_STACK
      }
      if (typeof f === 'function' && f !== own && f !== base) return f.call(self, a, b)
      // This class's dump() never throws; only entering it can, with the stack exhausted.
      try {
        return base.call(self, a, b)
      } catch {
        return OUT_OF_STACK
      }
    }
    return own
  },
  // observe() runs on the host's monitor timer: its method is read as a plain property of
  // the prototype (an accessor there is run with the prototype as `this`), since
  // Reflect.get with the instance as receiver doubles the call's cost (20 → 40 ns).
  observe: (self, base) => {
    const own = (a, b) => {
      const p = Object.getPrototypeOf(self)
      const f = p === null ? undefined : p.observe
      return (typeof f === 'function' && f !== own ? f : base).call(self, a, b)
    }
    return own
  },
  close: (self, base) => {
    const own = () => {
      const p = Object.getPrototypeOf(self)
      const f = p === null ? undefined : Reflect.get(p, 'close', self)
      return (typeof f === 'function' && f !== own ? f : base).call(self)
    }
    return own
  },
  resetForNewSession: (self, base) => {
    const own = (a) => {
      const p = Object.getPrototypeOf(self)
      const f = p === null ? undefined : Reflect.get(p, 'resetForNewSession', self)
      return (typeof f === 'function' && f !== own ? f : base).call(self, a)
    }
    return own
  },
}

/**
 * The dumpers whose recorder should end its trail with an `exit` record when the process
 * (or worker) exits: `process.exit()` and a natural exit both emit `exit`, and no native
 * thread runs after its handlers. Held weakly: a dumper the host dropped is not kept.
 */
const exiting = new Set()
let exitHandler = false
/** process.on('exit') threw once (a frozen `process`): said once per process. */
let exitHandlerRefused = false
/** lib/dumper/process-end.js, loaded with the `exit` handler by the first dumper that needs it. */
let processEnd = null
let movingExitListener = false
/** One move at a time: a host that adds and removes many listeners in a turn pays for one. */
let exitMovePending = false
/**
 * Marks the `exit` listener of every copy of this package in the process (a CLI and a
 * plugin may each load their own): each copy keeps its listener after the host's, never
 * after another copy's, so two copies never move theirs in turn forever.
 */
const OUR_EXIT_LISTENER = Symbol.for('memory-diagnostics-dumper.exitListener')
/**
 * Moves in this turn of the event loop, at most MAX_EXIT_MOVES: an older copy of the
 * package, whose listener has no mark, would otherwise move its own in answer to each of
 * ours forever, and the event loop would never turn again.
 */
let exitMoves = 0
const MAX_EXIT_MOVES = 8
/** Whether `l` is a copy's exit listener; a host's Proxy that throws on the read is not. */
function isOurs(l) {
  try {
    return typeof l === 'function' && l[OUR_EXIT_LISTENER] === true
  } catch {
    return false
  }
}
function keepExitListenerLast(event, listener) {
  if (event !== 'exit' || movingExitListener || exitMovePending || exitMoves >= MAX_EXIT_MOVES) return
  if (isOurs(listener)) return
  exitMovePending = true
  queueMicrotask(() => {
    exitMovePending = false
    let listeners
    try {
      listeners = process.listeners('exit')
    } catch {
      return
    }
    const i = listeners.indexOf(closeAllForExit)
    if (i < 0 || listeners.slice(i + 1).every(isOurs)) return
    if (exitMoves++ === 0) {
      try {
        setImmediate(() => {
          exitMoves = 0
        }).unref()
      } catch {}
    }
    movingExitListener = true
    try {
      process.removeListener('exit', closeAllForExit)
      process.on('exit', closeAllForExit)
    } catch {
    } finally {
      movingExitListener = false
    }
  })
}
function closeAllForExit(code) {
  let end
  try {
    end = processEnd?.end(code)
  } catch {}
  for (const ref of exiting) {
    const inner = ref.deref()
    if (inner === undefined) continue
    try {
      inner.closeForExit(end)
    } catch {}
  }
  exiting.clear()
  // A dump a recorder thread is writing on its own (pressure, watchdog) finishes its phase 2,
  // within 100 ms, even when its dumper was closed just before the exit.
  for (const binding of bindings) {
    try {
      binding.waitForOwnDumps?.(100)
    } catch {}
  }
}
/**
 * The host's options read once, two levels deep, into plain objects, before either
 * implementation checks them: a getter or a Proxy trap of the host's runs once, and one that
 * throws is an `InvalidArg` error naming the field (its throw named by its kind only), never
 * the host's own error. Anything but a plain object is passed on for the implementation to
 * name.
 */
function plainOptions(options, path = 'options', depth = 2) {
  if (options === null || typeof options !== 'object' || Array.isArray(options) || depth === 0) return options
  const fail = (where, e) => {
    const err = new Error(`${where}: reading it threw ${kindOf(e)}`)
    err.code = 'InvalidArg'
    return err
  }
  let keys
  try {
    keys = Object.keys(options)
  } catch (e) {
    throw fail(path, e)
  }
  const out = {}
  for (const key of keys) {
    let v
    try {
      v = options[key]
    } catch (e) {
      throw fail(`${path}.${key}`, e)
    }
    // Defined, never assigned: an own `__proto__` key stays a key.
    Object.defineProperty(out, key, { value: plainOptions(v, `${path}.${key}`, depth - 1), enumerable: true, writable: true, configurable: true })
  }
  return out
}

/** `Promise.prototype.then` as it was at load (a host may replace the global Promise). */
const promiseThen = Promise.prototype.then
/** What a thrown value was, by kind only (its message may hold anything). */
const kindOf = (e) => {
  try {
    const name = e !== null && typeof e === 'object' ? e.constructor?.name : typeof e
    return typeof name === 'string' && /^[A-Za-z_$][\w$]{0,40}$/.test(name) ? `(${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name})` : '(a value)'
  } catch {
    return '(a value)'
  }
}
/** The figures the JS thread adds to an own dump (contract.json's dumpInput), by getter; loaded at the first own dump. */
let ownDumpKeys = null
function ownDumpKeysOf(what) {
  if (ownDumpKeys === null) {
    const keys = { 'v8.getHeapStatistics': [], 'process.memoryUsage': [] }
    for (const slot of require('../contract.json').dumpInput.slots) {
      const [container, key] = slot.split('.')
      keys[container === 'heapStatistics' ? 'v8.getHeapStatistics' : 'process.memoryUsage'].push(key)
    }
    ownDumpKeys = keys
  }
  return ownDumpKeys[what]
}
/** The native bindings of the classes made (`wrap`), for closeAllForExit. */
const bindings = new Set()
Object.defineProperty(closeAllForExit, OUR_EXIT_LISTENER, { value: true })

/**
 * The public class over `Implementation`. `addon`, the native binding when it is what
 * `Implementation` is made of, gives dumps and observe() its fast path (fast-path.js)
 * and watchdog stacks their helper thread; without it every call takes the checked path.
 */
function wrap(Implementation, addon = null) {
  if (addon !== null) bindings.add(addon)
  /**
   * The binding's fast path (fast-path.js, loaded then): at the first dumper's warm-up or
   * first observe(), never by require(), the constructor or a dump.
   */
  let fast = null
  const fastOfAddon = () => {
    if (fastPath === null) fastPath = require('./fast-path.js')
    if (fast === null) fast = fastPath.forBinding(addon, { heapStatistics: collectHeapStatistics, heapSpaces: collectHeapSpaces, resourceTypes })
    return fast
  }
  class MemoryDiagnosticsDumper {
    #inner
    #warned = new Set()
    #heartbeat = null
    #exitRef = null
    /** This dumper's share of the thread's allocation profiler (lib/dumper/allocation-profile.js). */
    #alloc = null
    /** This dumper's hold on the stack helper thread (lib/dumper/stack-helper.js), when asked for. */
    #stack = null
    /** dump()'s fast path state (the native input block, the heap spaces' names), or null. */
    #fast = null
    /** This dumper's link to the host's OpenTelemetry (lib/dumper/telemetry.js), or null. */
    #telemetry = null
    /** The native input block until the fast path is set up (#setUpFast), else null. */
    #figures = null

    constructor(options) {
      loadTriggers()
      options = plainOptions(options)
      // `telemetry` is this class's option: the host's meter and logger are passed to neither
      // implementation, and telemetry.js is loaded only when it is given.
      let telemetry = null
      const hasTelemetry = options !== null && typeof options === 'object' && !Array.isArray(options) && Object.hasOwn(options, 'telemetry')
      if (hasTelemetry && options.telemetry != null) telemetry = require('./telemetry.js').check(options.telemetry)
      if (hasTelemetry) {
        options = { ...options }
        delete options.telemetry
      }
      this.#inner = new Implementation(options)
      if (addon !== null && typeof addon.inputFigureKeys === 'function' && typeof this.#inner.dumpFigures === 'function') {
        this.#figures = this.#inner.inputFigures ?? null
        // Set up and warmed on a later turn of the event loop (#warmUp), off the host's
        // start; a dump that comes before takes the checked path (it never loads a file:
        // a dump may come when the process has no descriptor left).
        if (this.#figures !== null) {
          const self = new WeakRef(this)
          setImmediate(() => self.deref()?.#warmUp()).unref()
        }
      }
      // The implementation validated `watchdog.captureStack`; only the native one has a
      // watchdog (the fallback records its absence in every document).
      let watchdog
      try {
        watchdog = options.watchdog
      } catch {}
      if (watchdog?.captureStack === true && addon !== null && typeof this.#inner.stackCaptureUnavailable === 'function') {
        this.#stack = require('./stack-helper.js').acquire(this, addon)
        if (this.#stack.error) {
          this.#inner.stackCaptureUnavailable(this.#stack.error)
          this.#warn(`watchdog stacks are off: ${this.#stack.error}`, 'StackCaptureUnavailable')
          this.#stack = null
        }
      }
      this.#startHeartbeat()
      // The implementation validated `allocationProfile`; the profiler is JS (the inspector).
      let alloc
      try {
        alloc = options.allocationProfile
      } catch {}
      if (alloc === true || (alloc !== null && typeof alloc === 'object')) {
        this.#alloc = require('./allocation-profile.js').start(alloc)
        if (this.#alloc.error) this.#warn(`allocation profiles are off: ${this.#alloc.error}`, 'AllocationProfileUnavailable')
      }
      // The recorder thread's own dumps (the pressure rule's) are complete without the JS
      // thread; when its loop answers, it adds the host's V8 figures of that moment and the
      // allocation sites. The callback holds this dumper weakly: a dropped dumper is collected.
      if (telemetry !== null) {
        // Held weakly by what the host's meter keeps (its callbacks): a dropped dumper is collected.
        const self = new WeakRef(this)
        this.#telemetry = require('./telemetry.js').attach(telemetry, this.#inner, (message, code) => self.deref()?.#warn(message, code))
      }
      if ((this.#inner.writesOwnDumps === true || this.#telemetry !== null) && typeof this.#inner.onOwnDump === 'function') {
        const self = new WeakRef(this)
        try {
          this.#inner.onOwnDump((filePath, dumpNumber, delayMs, trigger) => self.deref()?.#addToOwnDump(filePath, dumpNumber, delayMs, trigger))
        } catch (e) {
          this.#warn(`pressure dumps will lack the JS thread's figures: ${describeThrown(e)}`, 'OwnDumpUnavailable')
        }
      }
      if (typeof this.#inner.closeForExit === 'function') {
        if (!exitHandler) {
          // A host may have frozen `process` (its listeners cannot be added then): the
          // dumper still works, its trail just ends without an exit record, so a reader
          // takes the end for a death; said once, never thrown.
          try {
            process.on('exit', closeAllForExit)
            exitHandler = true
          } catch (e) {
            if (!exitHandlerRefused) {
              exitHandlerRefused = true
              this.#warn(
                `the recorder cannot end its trail with an exit record: process.on('exit') threw (${describeThrown(e)}), so a clean exit will read as a death`,
                'ExitHandlerUnavailable',
              )
            }
          }
          if (exitHandler) {
            // Kept the last `exit` listener, so that the exit record sees the code that an
            // `exit` listener of the host's sets (moved a microtask after one is added).
            try {
              process.on('newListener', keepExitListenerLast)
            } catch {}
            // How the process ends (an uncaught error, process.exit(), the loop's end), observed.
            try {
              processEnd = require('./process-end.js')
              processEnd.install()
            } catch {}
          }
        }
        this.#exitRef = new WeakRef(this.#inner)
        exiting.add(this.#exitRef)
      }
      // Bound, so that `setTimeout(dumper.dump, 0, 'hard')` and
      // `emitter.on('critical', dumper.dump)` reach this dumper. Each is a small function
      // that, when called, runs the method this instance's prototype chain holds then (a
      // subclass's override, which reaches this class's through `super`; a prototype changed
      // later): an own property shadows the chain, so what it calls is looked up at the call,
      // never read (and never a host's getter run) by the constructor.
      for (const m of BOUND)
        Object.defineProperty(this, m, { value: DISPATCHERS[m](this, MemoryDiagnosticsDumper.prototype[m]), writable: true, configurable: true })
      const problem = this.#inner.problem
      if (problem) this.#warn(`diagnostics are disabled: ${problem}`, 'DirectoryUnusable')
    }

    #warn(message, code) {
      if (!this.#warming) warnOnce(this.#warned, message, code)
    }

    /** Set while the deferred warm-up runs dump() with a trigger nobody accepts. */
    #warming = false

    /**
     * The first dump matters most, so what it would pay for the first time is paid on a
     * later turn of the event loop, off the host's start-up path: node:v8's load, V8's
     * first calls of the collectors, the compilation of this class's dump path (V8
     * compiles a function on its first call) and the addon's first call. It runs dump()
     * with the empty trigger, which both paths refuse before anything is reserved or
     * written, and says nothing about it.
     */
    #warmUp() {
      this.#warming = true
      try {
        this.#setUpFast()
        // The warm-up's dumps are refused by a throw the addon makes, which this flag turns
        // into the end of the process: no warm-up then (the first dump pays for it).
        if (require('./node-flags.js').abortsOnUncaughtException()) return
        if (this.#fast !== null) fastPath.warmUp(this.#inner, this.#fast)
        // This class's dump, not a subclass's override: the host's code does not run for a warm-up.
        MemoryDiagnosticsDumper.prototype.dump.call(this, '').catch(() => {})
      } catch {
      } finally {
        this.#warming = false
      }
    }

    /**
     * dump()'s fast path over the block: its writers are generated from contract.json at
     * the first dumper's warm-up (fast-path.js, once per process), so that neither
     * require() nor the constructor pays for them.
     */
    #setUpFast() {
      const figures = this.#figures
      if (figures === null) return
      this.#figures = null
      const binding = fastOfAddon()
      this.#fast = fastPath.dumpState(binding, figures)
    }

    /**
     * With the watchdog on, the event loop proves itself alive: an unref'd timer (it never
     * keeps the process running) tells the addon at a quarter of `stallMs`. The timer
     * holds the dumper weakly, so it never keeps a dropped dumper alive either.
     */
    #startHeartbeat() {
      const inner = this.#inner
      const every = inner.heartbeatIntervalMs
      if (typeof every !== 'number' || !(every > 0) || typeof inner.heartbeat !== 'function') return
      const ref = new WeakRef(inner)
      const helper = this.#stack === null ? null : require('./stack-helper.js')
      const timer = setInterval(() => {
        const alive = ref.deref()
        if (alive === undefined) clearInterval(timer)
        else {
          try {
            alive.heartbeat()
            // A stack helper held back by its restart rule starts once the rule allows.
            if (helper !== null) helper.tick()
          } catch {}
        }
      }, every)
      timer.unref()
      this.#heartbeat = timer
    }

    dump(trigger, input) {
      // A dump() made while another one reads its input (from a host's getter or Proxy
      // trap, or options.now) is refused: reading the same input again could recurse
      // without end, and its figures must never mix with the outer dump's.
      try {
        // Called with something else as `this` (the method taken from the prototype): no
        // dumper to write with, and still no throw.
        if (this === null || (typeof this !== 'object' && typeof this !== 'function') || !(#inner in this)) return strayDump(trigger)
        if (reading > 0) return this.#nested(trigger)
        reading++
        try {
          return this.#dump(trigger, input)
        } finally {
          reading--
        }
      } catch {
        // Only a stack exhausted by the host's own recursion gets here: nothing more can
        // be called, so the answer is one made in advance.
        return OUT_OF_STACK
      }
    }

    /** A dump() made from inside another dump's reading of its input. */
    #nested(trigger) {
      const error = 'dump() was called while another dump() read its input (from a getter, a Proxy trap or options.now); nothing was written'
      this.#warn(`dump(): ${error}`, 'NestedDump')
      return Promise.resolve({ ...triggerOf(trigger), complete: false, written: false, error })
    }

    #dump(trigger, input) {
      // No closure is made per dump (V8 heap per dump): what a failure needs is in methods.
      let first
      try {
        if (this.#fast !== null) {
          const p = fastPath.dump(this.#inner, this.#fast, trigger, input)
          if (p !== undefined) return this.#settle(p, trigger)
        }
        return this.#settle(this.#inner.dump(trigger, fill(input)), trigger)
      } catch (e) {
        first = e
      }
      // Input validation failed, or reading the host's input threw (a getter, a Proxy
      // trap). Both implementations read all of the input before they take a slot or
      // write anything, so the dump can be tried again on a guarded plain copy: a read
      // that throws becomes a malformed figure (null, with a warning) instead of costing
      // the dump, and a Proxy of an array becomes an array.
      try {
        const problems = []
        const proxies = { n: 0 }
        const plain = plainInput(input, problems, proxies)
        if (problems.length === 0 && proxies.n === 0) return Promise.resolve(this.#refused(trigger, first, ''))
        for (const p of problems) this.#warn(`dump(): input ${p.path}: ${p.what} (${p.thrown})`, 'InputGetterThrew')
        // The document names each throwing read, never what was thrown (the host's text).
        const max = limits?.maxGuardWarnings ?? 16
        const said = problems.slice(0, max).map((p) => `${p.path}: ${p.what}`)
        if (problems.length > max) said.push(`${problems.length - max} more reads of the input threw`)
        return this.#settle(this.#inner.dump(trigger, plain, said), trigger)
      } catch (e) {
        return Promise.resolve(this.#refused(trigger, e, ''))
      }
    }

    /** A refused dump's result, warned about once per distinct message. */
    #refused(trigger, e, prefix) {
      const error = prefix + describeThrown(e)
      this.#warn(`dump(): ${error}`, codeOf(e))
      return { ...triggerOf(trigger), complete: false, written: false, error }
    }

    /** The rejection handlers, one per trigger, made once (not per dump). */
    #onRejected = new Map()

    /**
     * The implementation's promise with a rejection turned into a refused result: they
     * resolve every outcome, so a rejection would be a bug in them, and still must not
     * become an unhandled rejection in a host that ignores the promise. One derived
     * promise per dump unless allocation profiles are on (V8 heap per dump).
     */
    #settle(p, trigger) {
      const key = accepted(trigger) ? trigger : ''
      let onRejected = this.#onRejected.get(key)
      if (onRejected === undefined) {
        onRejected = (e) => this.#refused(trigger, e, 'internal error: ')
        this.#onRejected.set(key, onRejected)
      }
      const settled =
        this.#alloc === null
          ? Promise.resolve(p).then(undefined, onRejected)
          : Promise.resolve(p)
              .then((r) => this.#withAllocationProfile(r))
              .then(undefined, onRejected)
      if (this.#telemetry === null) return settled
      // Told once the document is complete (and the allocation sites are in it).
      const telemetry = this.#telemetry
      return settled.then((r) => {
        try {
          telemetry.dumped(r)
        } catch {}
        return r
      })
    }

    /**
     * Once the dump's phase 2 (and any heap snapshot) is on disk: the allocation profile,
     * fetched and summarized here, added to the dump off the JS thread. Never at the price
     * of the dump: a problem is in the result and one warning.
     */
    async #withAllocationProfile(r) {
      const a = this.#alloc
      if (a === null || r === null || typeof r !== 'object' || r.written !== true || r.complete !== true) return r
      let section
      let error = null
      try {
        section = a.error
          ? { status: 'skipped', skipped: `allocation profiles are off: ${a.error}`, samplingIntervalBytes: 0, sites: [] }
          : require('./allocation-profile.js').fetchSection(a)
        error = await this.#inner.allocationProfileAttach(r.filePath, JSON.stringify(section))
      } catch (e) {
        error = `internal error: ${describeThrown(e)}`
      }
      if (error) {
        this.#warn(`allocation profile: ${error}`, 'AllocationProfileFailed')
        return { ...r, allocationProfile: { status: 'failed', error } }
      }
      return {
        ...r,
        allocationProfile:
          section.status === 'taken'
            ? { status: 'taken', sites: section.sites.length, fetchMillis: section.fetchMillis }
            : { status: 'skipped', skipped: section.skipped },
      }
    }

    /**
     * On the JS thread, its loop alive again, after a dump the recorder thread wrote on its
     * own: the V8 figures of now (`delayMs` after its phase 1) and, with allocation
     * profiles, the sites, added off the JS thread by one more atomic replace. Called from
     * a threadsafe function, so nothing may throw out of it; a problem is one warning.
     */
    #addToOwnDump(filePath, dumpNumber, delayMs, trigger) {
      const fail = (error) => this.#warn(`pressure dumps: the JS thread's figures were not added: ${error}`, 'OwnDumpAttachFailed')
      const told = { written: true, complete: true, filePath, trigger: trigger ?? 'pressure', dumpNumber }
      // A watchdog dump is only told of (nothing is added to it).
      if (trigger === 'watchdog') {
        try {
          this.#telemetry?.dumped(told)
        } catch {}
        return
      }
      if (this.#inner.writesOwnDumps !== true) return
      try {
        // Each figure read alone, into a plain object: a getter or a Proxy trap of the host's
        // that throws costs that figure (null), never the others; what it threw is named by
        // its kind only, never quoted.
        const threw = []
        const read = (what, get) => {
          let from
          try {
            from = get()
          } catch (e) {
            threw.push(`${what}() threw ${kindOf(e)}`)
            return {}
          }
          const out = {}
          for (const key of ownDumpKeysOf(what)) {
            try {
              const v = from?.[key]
              if (typeof v === 'number') out[key] = v
            } catch (e) {
              threw.push(`reading ${what}().${key} threw ${kindOf(e)}`)
            }
          }
          return out
        }
        const heap = read('v8.getHeapStatistics', collectHeapStatistics)
        const usage = read('process.memoryUsage', () => process.memoryUsage())
        if (threw.length) this.#warn(`pressure dumps: ${threw.slice(0, 3).join('; ')}; those figures are null in jsFigures`, 'InputGetterThrew')
        const a = this.#alloc
        let section
        if (a !== null)
          section = JSON.stringify(
            a.error
              ? { status: 'skipped', skipped: `allocation profiles are off: ${a.error}`, samplingIntervalBytes: 0, sites: [] }
              : require('./allocation-profile.js').fetchSection(a),
          )
        // The addon's own promise, through the `then` kept at load: a host that replaced
        // the global Promise changes nothing here.
        promiseThen.call(
          this.#inner.ownDumpAttach(filePath, delayMs, heap, usage, section),
          (error) => {
            if (error) fail(error)
            try {
              this.#telemetry?.dumped(told)
            } catch {}
          },
          (e) => {
            fail(`internal error: ${kindOf(e)}`)
            try {
              this.#telemetry?.dumped(told)
            } catch {}
          },
        )
      } catch (e) {
        try {
          fail(`internal error: ${kindOf(e)}`)
        } catch {}
        // The dump is on disk whatever failed here: it is still counted and told.
        try {
          this.#telemetry?.dumped(told)
        } catch {}
      }
    }

    /** True for an instance of this class (what its private fields need). */
    static #is(x) {
      return x !== null && (typeof x === 'object' || typeof x === 'function') && #inner in x
    }

    /** observe()'s fast path (fast-path.js): undefined until the first observe(), then it or null. */
    #observe = undefined

    /** This dumper's observe() fast path, or null for the checked path. */
    #observer() {
      if (addon === null) return null
      try {
        const binding = fastOfAddon()
        return fastPath.observer(binding, this.#inner)
      } catch {
        // A fast path that cannot be loaded leaves observe() on the checked path.
        return null
      }
    }

    /**
     * observe() runs on the host's monitor timer, so over the native addon it is made
     * nearly free: the figures go from JS straight into the recorder's memory
     * (fast-path.js). Containers that are not objects still go through the addon's
     * checked observe(), which throws the same errors as before.
     */
    observe(heapStatistics, memoryUsage) {
      if (!MemoryDiagnosticsDumper.#is(this)) return stray('observe')
      const h = heapStatistics === undefined ? collectHeapStatistics() : heapStatistics
      const u = memoryUsage === undefined ? process.memoryUsage() : memoryUsage
      let fastObserve = this.#observe
      if (fastObserve === undefined) fastObserve = this.#observe = this.#observer()
      if (fastObserve === null || !fastObserve(h, u)) this.#inner.observe(h, u)
    }

    close() {
      if (!MemoryDiagnosticsDumper.#is(this)) return stray('close')
      if (this.#heartbeat !== null) clearInterval(this.#heartbeat)
      this.#heartbeat = null
      if (this.#exitRef !== null) exiting.delete(this.#exitRef)
      this.#exitRef = null
      if (this.#alloc !== null && !this.#alloc.error) require('./allocation-profile.js').stop(this.#alloc)
      if (this.#stack !== null) this.#stack.release()
      this.#stack = null
      this.#telemetry?.close()
      this.#telemetry = null
      this.#inner.close()
    }

    resetForNewSession(sessionId) {
      if (!MemoryDiagnosticsDumper.#is(this)) return stray('resetForNewSession')
      this.#inner.resetForNewSession(sessionId)
    }

    get dumpCount() {
      return this.#inner.dumpCount
    }

    get directory() {
      return this.#inner.directory
    }

    get sessionId() {
      return this.#inner.sessionId
    }

    get problem() {
      return this.#inner.problem ?? null
    }
  }
  return MemoryDiagnosticsDumper
}

module.exports = { wrap, fill, activeResources }
