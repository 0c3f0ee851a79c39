'use strict'
// Entry point: loads the native binary (the one place that does), chooses the
// implementation and exports the public class over it: the native addon when it loads,
// the pure-JS implementation (lib/fallback/) otherwise, so that a missing or broken binary
// never breaks the host. `implementation` says which. The public class (lib/dumper/) is
// the same over both. (Loading lives here, not in a file of its own: every file costs
// every host's require() about 0.3 ms on a slow machine.)

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
  // rule's home matching (lib/rules/places.js: a whole path prefix, plain or percent-encoded),
  // and no URL's query, credentials or data: content.
  const places = require('./lib/rules/places.js')
  return places.replaceHome(places.redactUrls(text).text, require('node:os').homedir()).text.slice(0, 1000)
}

/**
 * This platform's binary by its own file name, beside the package's entry: one require
 * instead of the generated loader (native.js), whose compilation and checks cost about
 * 2 ms of every host's start. It tries the file beside the entry, then the platform's
 * package, as the loader does first. Only where the name is certain: Linux with glibc
 * (told the way the loader tells it first, from /usr/bin/ldd), macOS and Windows on x64
 * and arm64, and no loader override in the environment. Everything else, and a binary
 * that is missing or does not load, goes to native.js, which tries every candidate and
 * says why each failed.
 */
function ownBinary(requireBesideEntry) {
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
  // Beside the entry (a build from source), then the platform's package (an npm install).
  for (const id of [`./memory-diagnostics-dumper.${triple}.node`, `memory-diagnostics-dumper-${triple}`]) {
    try {
      return requireBesideEntry(id)
    } catch {}
  }
  return null
}

/**
 * `{ binding, fallbackReason }`: the addon, or null and why not. `requireBesideEntry` is
 * the entry's own `require` (index.js's), so that the binary, native.js and the reasons
 * they give are named as seen from the package's root, where they are.
 */
function load(requireBesideEntry) {
  if (process.env.MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS === '1') return { binding: null, fallbackReason: 'forced by MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS=1' }
  try {
    return { binding: ownBinary(requireBesideEntry) ?? requireBesideEntry('./native.js'), fallbackReason: null }
  } catch (error) {
    return { binding: null, fallbackReason: `the native binding did not load: ${reasonFrom(error)}` }
  }
}

const { binding, fallbackReason } = load(require)

const implementation = binding ? 'native' : 'js'
/**
 * The native class, with the JS half of heap snapshots (lib/dumper/heap-snapshot.js) for a
 * dumper whose options ask for them: that file is loaded by the first such dumper, not by
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

// The public class (lib/dumper/public-class.js) over the implementation: native or the
// pure-JS fallback.
const MemoryDiagnosticsDumper = require('./lib/dumper/public-class.js').wrap(
  binding ? nativeImplementation(binding.MemoryDiagnosticsDumper) : require('./lib/fallback/dump.js').create(fallbackReason).MemoryDiagnosticsDumper,
  binding,
)

/** One redacted .zip of a crash for a bug report (lib/cli/bundle/, loaded on first use). */
function bundle(dir, options) {
  return require('./lib/cli/bundle/bundle.js').bundle(dir, options)
}

/**
 * How the previous process of a directory ended, told once per directory; for a host's start-up
 * (lib/cli/inspect/previous-run.js, loaded on first use; docs/previous-run.md). Never throws.
 */
function previousRun(options) {
  try {
    // The host's telemetry, read and checked before anything is claimed: a getter that
    // throws or a bad logger costs the call (a problem naming the field), never an answer no
    // later start would give.
    const problem = (text) => ({ outcome: 'unknown', died: false, problem: text, line: null })
    let telemetry = null
    if (options !== null && typeof options === 'object') {
      try {
        telemetry = Object.hasOwn(options, 'telemetry') ? options.telemetry : null
      } catch {
        return problem('options.telemetry: reading it threw')
      }
    }
    let checked = null
    if (telemetry != null) {
      try {
        checked = require('./lib/dumper/telemetry.js').check(telemetry)
      } catch (e) {
        return problem(e?.code === 'InvalidArg' ? e.message : 'options.telemetry: could not be read')
      }
    }
    const found = require('./lib/cli/inspect/previous-run.js').previousRun(options, binding)
    // Only an answer goes out: nothing for null or for bad options.
    if (found && found.pid !== undefined && checked) require('./lib/dumper/telemetry.js').reportPreviousRun(checked, found)
    return found
  } catch {
    return { outcome: 'unknown', died: false, problem: 'could not be read', line: null }
  }
}

module.exports = { MemoryDiagnosticsDumper, implementation, fallbackReason, bundle, previousRun }
