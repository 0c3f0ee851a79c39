'use strict'
// Entry point: chooses the implementation and exports the public class over it: the
// native addon when it loads (lib/load.js), the pure-JS implementation (lib/fallback/)
// otherwise, so that a missing or broken binary never breaks the host. `implementation`
// says which. The public class (lib/dumper/) is the same over both.

const { binding, fallbackReason } = require('./lib/load.js').load(require)

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

module.exports = { MemoryDiagnosticsDumper, implementation, fallbackReason, bundle }
