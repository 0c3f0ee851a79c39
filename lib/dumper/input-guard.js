'use strict'
// What the public class does with dump() and observe() input before the implementation
// sees it: each omitted field collected here (a field the host passes wins), and, when
// reading the host's input threw, a guarded plain copy of it. Loaded with the first dumper.
// node:v8 costs milliseconds to load: it is loaded at the first dump or observe() (or by
// the deferred warm-up), never by require() of the package.
let v8module = null
function v8Module() {
  if (v8module === null) v8module = require('node:v8')
  return v8module
}
const heapStatistics = () => v8Module().getHeapStatistics()
const heapSpaces = () => v8Module().getHeapSpaceStatistics()

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
  heapStatistics,
  memoryUsage: () => process.memoryUsage(),
  heapSpaces,
  activeResources,
}
const INPUT_FIELDS = ['heapStatistics', 'memoryUsage', 'heapSpaces', 'activeResources', 'session', 'samples']

/** The host's input with every omitted (undefined) field collected here. */
function fill(input) {
  const given = input ?? {}
  if (typeof given !== 'object' || Array.isArray(given)) return input
  return {
    heapStatistics: given.heapStatistics === undefined ? heapStatistics() : given.heapStatistics,
    memoryUsage: given.memoryUsage === undefined ? process.memoryUsage() : given.memoryUsage,
    heapSpaces: given.heapSpaces === undefined ? heapSpaces() : given.heapSpaces,
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
 * the field. `problems` gets one line per throwing read, with what was thrown.
 */
const THREW = '<getter threw>'
function plainInput(input, problems) {
  const read = (obj, key, path) => {
    try {
      return { ok: true, v: obj[key] }
    } catch (e) {
      problems.push(`${path}: reading it threw (${describeThrown(e)})`)
      return { ok: false, v: undefined }
    }
  }
  const keysOf = (obj, path) => {
    try {
      return Object.keys(obj)
    } catch (e) {
      problems.push(`${path}: listing its keys threw (${describeThrown(e)})`)
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
  // One level of copying below each field: figure maps, entries of arrays of maps.
  const flat = (obj, path, leafOnThrow) => {
    if (obj === null || typeof obj !== 'object') return obj
    if (isArray(obj)) {
      const n = read(obj, 'length', `${path}.length`)
      if (!n.ok || typeof n.v !== 'number') return undefined
      const out = []
      for (let i = 0; i < n.v; i++) {
        const e = read(obj, i, `${path}[${i}]`)
        out.push(e.ok ? flat(e.v, `${path}[${i}]`, leafOnThrow) : leafOnThrow ? THREW : undefined)
      }
      return out
    }
    const keys = keysOf(obj, path)
    if (keys === null) return undefined
    const out = {}
    for (const k of keys) {
      const e = read(obj, k, `${path}.${k}`)
      if (e.ok) out[k] = e.v !== null && typeof e.v === 'object' ? flat(e.v, `${path}.${k}`, leafOnThrow) : e.v
      else if (leafOnThrow) out[k] = THREW
    }
    return out
  }
  if (input === undefined || input === null) return fill(input)
  if (typeof input !== 'object' || isArray(input)) return input
  const given = {}
  for (const f of INPUT_FIELDS) {
    const e = read(input, f, `input.${f}`)
    given[f] = e.ok ? flat(e.v, `input.${f}`, f !== 'session') : undefined
  }
  const out = {}
  for (const f of INPUT_FIELDS) {
    const collect = COLLECT[f]
    out[f] = given[f] === undefined && collect ? collect() : given[f]
  }
  return out
}

module.exports = { heapStatistics, heapSpaces, activeResources, resourceTypes, describeThrown, fill, plainInput }
