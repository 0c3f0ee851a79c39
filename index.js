'use strict'
// Entry point: the native addon when it loads, the pure-JS implementation otherwise, so
// that a missing or broken binary never breaks the host. `implementation` says which.
const os = require('node:os')

const firstLine = (error) => String((error && error.message) || error).split('\n')[0]

function reasonFrom(error) {
  // The loader chains what each attempt threw as `cause` (last attempt outermost): name
  // every artifact it tried and why it failed, in the order tried, rather than its
  // generic "Cannot find native binding" advice. This package ships no WASI build.
  const attempts = []
  for (let c = error && error.cause, n = 0; c && n < 20; c = c.cause, n++) attempts.unshift(firstLine(c))
  const tried = attempts.filter((m) => !/wasm32-wasi|\.wasi\.cjs/.test(m))
  const text = tried.length ? tried.join('; ') : firstLine(error)
  // Never put the user's home directory (and so their user name) into dumps.
  const home = os.homedir()
  return (home ? text.split(home).join('~') : text).slice(0, 1000)
}

let binding = null
let fallbackReason = null
if (process.env.MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS === '1') {
  fallbackReason = 'forced by MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS=1'
} else {
  try {
    binding = require('./native.js')
  } catch (error) {
    fallbackReason = `the native binding did not load: ${reasonFrom(error)}`
  }
}

const implementation = binding ? 'native' : 'js'
// The public class (lib/wrap.js) over the implementation: native (with the JS half of heap
// snapshots) or the pure-JS fallback.
const Implementation = binding
  ? require('./lib/heap-snapshot.js').withHeapSnapshots(binding.MemoryDiagnosticsDumper)
  : require('./lib/fallback.js').create(fallbackReason).MemoryDiagnosticsDumper
// dump()'s figures cross Node-API as one block (lib/wrap.js's fast path) when the binary's
// layout is the one contract.json describes; otherwise every call takes the checked path.
let fastInput = null
if (binding && typeof binding.inputFigureKeys === 'function') {
  const layout = require('./lib/contract.json').dumpInput
  if (binding.inputFigureKeys().join() === layout.slots.join()) {
    const { makeInputWriter, makeSpacesWriter } = require('./lib/figures.js')
    const spaces = `${layout.spaceCountSlot}:${layout.spaceFields.join()}:${layout.maxSpaces}`
    fastInput = {
      writeFigures: makeInputWriter(layout),
      // Heap spaces too, when the binary places them where contract.json says.
      writeSpaces: typeof binding.inputSpaceLayout === 'function' && binding.inputSpaceLayout() === spaces ? makeSpacesWriter(layout) : null,
    }
  }
}
const MemoryDiagnosticsDumper = require('./lib/wrap.js').wrap(Implementation, binding, fastInput)

// observe() runs on the host's monitor timer, so the native one is made nearly free: the
// figures are written from JS straight into the recorder's memory (a Float64Array the
// addon lends) instead of being read through Node-API property by property. The slot
// layout and the seqlock writer come from contract.json (lib/figures.js); a binary whose
// layout differs keeps the checked path. Containers that are not objects still go through
// the addon's checked observe(), which throws the same errors as before.
if (binding && typeof binding.observedFigureKeys === 'function') {
  const { makeWriter } = require('./lib/figures.js')
  const layout = require('./lib/contract.json').observedFigures
  if (binding.observedFigureKeys().join() === layout.slots.join()) {
    // The native class under the public one (lib/wrap.js), whose observe() forwards here.
    const proto = binding.MemoryDiagnosticsDumper.prototype
    const checked = proto.observe
    const figures = Symbol('observedFigures')
    const write = makeWriter(layout)
    proto.observe = function observe(h, u) {
      let f = this[figures]
      if (f === undefined) f = this[figures] = this.observedFigures
      if (f === null || typeof h !== 'object' || h === null || typeof u !== 'object' || u === null) return checked.call(this, h, u)
      write(f, h, u)
    }
  }
}

/** One redacted .zip of a crash for a bug report (lib/bundle.js, loaded on first use). */
function bundle(dir, options) {
  return require('./lib/bundle.js').bundle(dir, options)
}

module.exports = { MemoryDiagnosticsDumper, implementation, fallbackReason, bundle }
