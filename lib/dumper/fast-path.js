'use strict'
// The fast path over the native addon, for dump() and observe() alike: the figures are
// written from JS into a Float64Array the addon lends (one plain property read each, fast
// in V8) instead of being read through Node-API property by property. The writers are
// generated from contract.json (figures.js), once per process and binding, and only when
// the binary's layout is the one contract.json describes; otherwise every call takes the
// checked path. They are made at the first dumper's warm-up (public-class.js, a turn of
// the event loop after it is made) or its first observe(): not by require() or the
// constructor (contract.json and the generated functions cost about a millisecond), and
// never by a dump (which may come when the process has no descriptor left to read a file
// with; until then dumps take the checked path).

/** The writers of one binding: made once, shared by its dumpers. */
const forBindings = new WeakMap()

/**
 * The fast path of `binding` (`collect`: the public class's collectors of omitted input,
 * `{ heapStatistics, heapSpaces, resourceTypes }`), or null when its binary offers none: `{ binding, input,
 * observe }`, where `input` and `observe` are the writers once made (undefined before,
 * null when the layout differs or cannot be read).
 */
function forBinding(binding, collect) {
  if (binding === null || typeof binding !== 'object') return null
  let fast = forBindings.get(binding)
  if (fast === undefined) {
    fast = {
      binding,
      collect,
      input: typeof binding.inputFigureKeys === 'function' ? undefined : null,
      observe: typeof binding.observedFigureKeys === 'function' ? undefined : null,
    }
    forBindings.set(binding, fast)
  }
  return fast
}

/** observe()'s writer: `(f, h, u)`, the seqlock writer of the recorder's block, or null. */
function observeWriter(fast) {
  if (fast.observe !== undefined) return fast.observe
  fast.observe = null
  try {
    const layout = require('../contract.json').observedFigures
    if (fast.binding.observedFigureKeys().join() === layout.slots.join()) fast.observe = require('./figures.js').makeWriter(layout)
  } catch {
    // A layout that cannot be read leaves observe() on the checked path.
  }
  return fast.observe
}

/** dump()'s writers, `{ writeFigures, writeSpaces }` (observe()'s made too), or null. */
function inputWriters(fast) {
  if (fast.input !== undefined) return fast.input
  fast.input = null
  if (fast.observe === undefined) observeWriter(fast)
  const layout = require('../contract.json').dumpInput
  const binding = fast.binding
  if (binding.inputFigureKeys().join() === layout.slots.join()) {
    const { makeInputWriter, makeSpacesWriter } = require('./figures.js')
    const spaces = `${layout.spaceCountSlot}:${layout.spaceFields.join()}:${layout.maxSpaces}`
    fast.input = {
      writeFigures: makeInputWriter(layout),
      // Heap spaces too, when the binary places them where contract.json says.
      writeSpaces: typeof binding.inputSpaceLayout === 'function' && binding.inputSpaceLayout() === spaces ? makeSpacesWriter(layout) : null,
    }
  }
  return fast.input
}

/**
 * One dumper's dump() state over `inner` (a native dumper), given the block it lends
 * (`inner.inputFigures`): `{ writeFigures, writeSpaces, figures, names, scratch }`, or
 * null when the binding has no fast path for dumps.
 */
function dumpState(fast, figures) {
  let writers = null
  try {
    writers = inputWriters(fast)
  } catch {
    // A layout that cannot be read leaves this dumper on the checked path.
  }
  return writers === null ? null : { ...writers, figures, names: [], scratch: [], collect: fast.collect, busy: false }
}

/**
 * `dump()` over the native class (`inputFigures` + `dumpFigures()`): the host's
 * heapStatistics and memoryUsage, or the figures collected for the ones it left out, are
 * written into the block the addon lends and cross Node-API as one block; the rest of the
 * input goes as separate arguments, each collected only when the host left it out.
 * Returns undefined when the input is not the usual shape (then the checked path runs,
 * with its errors and warnings).
 */
function dump(inner, state, trigger, input) {
  // A dump() made while this one reads its input (from a host's getter) takes the checked
  // path, with its own buffers: the block holds this dump's figures until the addon has them.
  if (state.busy) return undefined
  state.busy = true
  try {
    return dumpOnce(inner, state, trigger, input)
  } finally {
    state.busy = false
  }
}

function dumpOnce(inner, state, trigger, input) {
  const { heapStatistics, heapSpaces, resourceTypes } = state.collect
  let h
  let u
  let spaces
  let resources
  let session
  let samples
  if (input === undefined || input === null) {
    h = heapStatistics()
    u = process.memoryUsage()
  } else if (typeof input === 'object' && !Array.isArray(input)) {
    h = input.heapStatistics
    u = input.memoryUsage
    spaces = input.heapSpaces
    resources = input.activeResources
    // An array is how the omitted resources go over (below): from the host it is an error
    // the checked path names.
    if (Array.isArray(resources)) return undefined
    session = input.session
    samples = input.samples
    if (h === undefined) h = heapStatistics()
    else if (h === null || typeof h !== 'object') return undefined
    if (u === undefined) u = process.memoryUsage()
    else if (u === null || typeof u !== 'object') return undefined
  } else return undefined
  // `true` is how the block's spaces are passed on: from the host it is an error the
  // checked path names.
  if (spaces === true || !state.writeFigures(state.figures, h, u)) return undefined
  if (spaces === undefined) spaces = heapSpaces()
  // The heap spaces into the block too (their names go over only when they change), or
  // the array itself through the checked path.
  if (spaces !== null && state.writeSpaces !== null && state.writeSpaces(state.figures, spaces, state.scratch)) {
    const kept = state.names
    let same = kept.length === state.scratch.length
    for (let i = 0; same && i < kept.length; i++) same = kept[i] === state.scratch[i]
    if (!same) {
      inner.setHeapSpaceNames(state.scratch)
      state.names = state.scratch.slice()
    }
    spaces = true
  }
  // Omitted active resources go over as the array of types Node gives, counted by the addon
  // (no record is built here and read back through Node-API), unless it is long.
  if (resources === undefined) resources = resourceTypes()
  return inner.dumpFigures(trigger, spaces, resources, session, samples)
}

/**
 * Runs dump()'s fast path once without dumping: its collectors, the writer and the call
 * into the addon, with a trigger the addon refuses before it reserves anything (V8
 * compiles a function on its first call; the first dump is the one that matters most).
 */
function warmUp(inner, state) {
  try {
    dump(inner, state, '', undefined)
  } catch {}
}

/**
 * One dumper's observe() fast path over `inner`: a function `(h, u)` that writes the
 * figures of `h` and `u` into the recorder's block `inner` lends (`inner.observedFigures`)
 * and returns true, or returns false, having written nothing, when either is not an
 * object (for the addon's checked observe(), which throws the errors it always has). Null
 * for the checked path alone: no recorder, or a binary whose layout differs.
 */
function observer(fast, inner) {
  const write = observeWriter(fast)
  if (write === null) return null
  const block = inner.observedFigures
  if (block === null || block === undefined) return null
  return (h, u) => {
    if (typeof h !== 'object' || h === null || typeof u !== 'object' || u === null) return false
    write(block, h, u)
    return true
  }
}

module.exports = { forBinding, dumpState, dump, warmUp, observer }
