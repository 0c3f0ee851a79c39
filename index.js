'use strict'
// Entry point: the native addon when it loads, the pure-JS implementation otherwise, so
// that a missing or broken binary never breaks the host. `implementation` says which.

const firstLine = (error) => String((error && error.message) || error).split('\n')[0]

function reasonFrom(error) {
  // The loader chains what each attempt threw as `cause` (last attempt outermost): name
  // every artifact it tried and why it failed, in the order tried, rather than its
  // generic "Cannot find native binding" advice. This package ships no WASI build.
  const attempts = []
  for (let c = error && error.cause, n = 0; c && n < 20; c = c.cause, n++) attempts.unshift(firstLine(c))
  const tried = attempts.filter((m) => !/wasm32-wasi|\.wasi\.cjs/.test(m))
  const text = tried.length ? tried.join('; ') : firstLine(error)
  // Never put the user's home directory (and so their user name) into dumps: the place
  // rule's home matching (lib/places.js: a whole path prefix, plain or percent-encoded),
  // and no URL's query, credentials or data: content.
  const places = require('./lib/rules/places.js')
  return places.replaceHome(places.redactUrls(text).text, require('node:os').homedir()).text.slice(0, 1000)
}

/**
 * This platform's binary by its own file name, beside this file: one require instead of
 * the generated loader (native.js), whose compilation and checks cost about 2 ms of every
 * host's start. It tries the file beside this one, then the platform's package, as the
 * loader does first. Only where the name is certain: Linux with glibc (told the way the
 * loader tells it first, from /usr/bin/ldd), macOS and Windows on x64 and arm64, and no
 * loader override in the environment. Everything else, and a binary that is missing or
 * does not load, goes to native.js, which tries every candidate and says why each failed.
 */
function ownBinary() {
  const env = process.env
  if (env.NAPI_RS_NATIVE_LIBRARY_PATH || env.NAPI_RS_FORCE_WASI || env.NAPI_RS_WASI_FLAVOR || env.NAPI_RS_ENFORCE_VERSION_CHECK) return null
  if (process.arch !== 'x64' && process.arch !== 'arm64') return null
  let suffix
  if (process.platform === 'darwin') suffix = ''
  else if (process.platform === 'win32') suffix = '-msvc'
  else if (process.platform === 'linux') {
    try {
      if (require('node:fs').readFileSync('/usr/bin/ldd', 'utf8').includes('musl')) return null
    } catch {
      return null
    }
    suffix = '-gnu'
  } else return null
  const triple = `${process.platform}-${process.arch}${suffix}`
  // Beside this file (a build from source), then the platform's package (an npm install).
  for (const id of [`./memory-diagnostics-dumper.${triple}.node`, `memory-diagnostics-dumper-${triple}`]) {
    try {
      return require(id)
    } catch {}
  }
  return null
}

let binding = null
let fallbackReason = null
if (process.env.MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS === '1') {
  fallbackReason = 'forced by MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS=1'
} else {
  try {
    binding = ownBinary() ?? require('./native.js')
  } catch (error) {
    fallbackReason = `the native binding did not load: ${reasonFrom(error)}`
  }
}

const implementation = binding ? 'native' : 'js'
/**
 * The native class, with the JS half of heap snapshots (lib/heap-snapshot.js) for a dumper
 * whose options ask for them: that file is loaded by the first such dumper, not by
 * require(). Without the option the half would pass every promise on as it is.
 */
function nativeImplementation(Native) {
  let WithSnapshots = null
  return function MemoryDiagnosticsDumper(options) {
    let snapshots
    try {
      snapshots = options !== null && typeof options === 'object' && options.heapSnapshot !== undefined && options.heapSnapshot !== null
    } catch {
      snapshots = true
    }
    if (!snapshots) return new Native(options)
    if (WithSnapshots === null) WithSnapshots = require('./lib/dumper/heap-snapshot.js').withHeapSnapshots(Native)
    return new WithSnapshots(options)
  }
}

// The public class (lib/wrap.js) over the implementation: native or the pure-JS fallback.
const Implementation = binding
  ? nativeImplementation(binding.MemoryDiagnosticsDumper)
  : require('./lib/fallback/dump.js').create(fallbackReason).MemoryDiagnosticsDumper
// dump()'s figures cross Node-API as one block (lib/wrap.js's fast path) when the binary's
// layout is the one contract.json describes; otherwise every call takes the checked path.
// The layout is compared, and its writers generated (observe()'s too), once per process
// at the first dumper's warm-up, a turn of the event loop after it is made: not by
// require() or the constructor (contract.json and the generated functions cost about a
// millisecond), and never by a dump (which may come when the process has no descriptor
// left to read a file with; until then dumps take the checked path).
let fastInputMemo
/** Makes observe()'s writer (set below when the binary shares the recorder's block). */
let observeWriter = null
function fastInput() {
  if (fastInputMemo !== undefined) return fastInputMemo
  fastInputMemo = null
  if (observeWriter !== null) observeWriter()
  const layout = require('./lib/contract.json').dumpInput
  if (binding.inputFigureKeys().join() === layout.slots.join()) {
    const { makeInputWriter, makeSpacesWriter } = require('./lib/dumper/figures.js')
    const spaces = `${layout.spaceCountSlot}:${layout.spaceFields.join()}:${layout.maxSpaces}`
    fastInputMemo = {
      writeFigures: makeInputWriter(layout),
      // Heap spaces too, when the binary places them where contract.json says.
      writeSpaces: typeof binding.inputSpaceLayout === 'function' && binding.inputSpaceLayout() === spaces ? makeSpacesWriter(layout) : null,
    }
  }
  return fastInputMemo
}
const MemoryDiagnosticsDumper = require('./lib/dumper/public-class.js').wrap(
  Implementation,
  binding,
  binding && typeof binding.inputFigureKeys === 'function' ? fastInput : null,
)

// observe() runs on the host's monitor timer, so the native one is made nearly free: the
// figures are written from JS straight into the recorder's memory (a Float64Array the
// addon lends) instead of being read through Node-API property by property. The slot
// layout and the seqlock writer come from contract.json (lib/figures.js), at the first
// observe(); a binary whose layout differs keeps the checked path. Containers that are
// not objects still go through the addon's checked observe(), which throws the same
// errors as before.
if (binding && typeof binding.observedFigureKeys === 'function') {
  // The native class under the public one (lib/wrap.js), whose observe() forwards here.
  const proto = binding.MemoryDiagnosticsDumper.prototype
  const checked = proto.observe
  const figures = Symbol('observedFigures')
  let write
  const writer = () => {
    write = null
    try {
      const layout = require('./lib/contract.json').observedFigures
      if (binding.observedFigureKeys().join() === layout.slots.join()) write = require('./lib/dumper/figures.js').makeWriter(layout)
    } catch {
      // A layout that cannot be read leaves observe() on the checked path.
    }
    return write
  }
  observeWriter = writer
  proto.observe = function observe(h, u) {
    const w = write === undefined ? writer() : write
    if (w === null) return checked.call(this, h, u)
    let f = this[figures]
    if (f === undefined) f = this[figures] = this.observedFigures
    if (f === null || typeof h !== 'object' || h === null || typeof u !== 'object' || u === null) return checked.call(this, h, u)
    w(f, h, u)
  }
}

/** One redacted .zip of a crash for a bug report (lib/bundle.js, loaded on first use). */
function bundle(dir, options) {
  return require('./lib/cli/bundle/bundle.js').bundle(dir, options)
}

module.exports = { MemoryDiagnosticsDumper, implementation, fallbackReason, bundle }
