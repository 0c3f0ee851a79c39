'use strict'
// Entry point: chooses the implementation and exports the public class over it. The
// native addon when it loads (lib/load.js), the pure-JS implementation (lib/fallback/)
// otherwise, so that a missing or broken binary never breaks the host; `implementation`
// says which. The public class (lib/dumper/) is the same over both.

const { binding, fallbackReason } = require('./lib/load.js').load(require)

const implementation = binding ? 'native' : 'js'
const MemoryDiagnosticsDumper = require('./lib/dumper/public-class.js').wrap(
  binding
    ? require('./lib/dumper/native-class.js').nativeClass(binding.MemoryDiagnosticsDumper)
    : require('./lib/fallback/dump.js').create(fallbackReason).MemoryDiagnosticsDumper,
  binding,
)

/** One redacted .zip of a crash for a bug report (lib/cli/bundle/, loaded on first use). */
function bundle(dir, options) {
  return require('./lib/cli/bundle/bundle.js').bundle(dir, options)
}

module.exports = { MemoryDiagnosticsDumper, implementation, fallbackReason, bundle }
