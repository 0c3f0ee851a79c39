'use strict'
// The native class as the public class takes it: with the JS half of heap snapshots
// (heap-snapshot.js) for a dumper whose options ask for them. That file is loaded by the
// first such dumper, not by require(); without the option the half would pass every
// promise on as it is.

function nativeClass(Native) {
  let WithSnapshots = null
  return function MemoryDiagnosticsDumper(options) {
    let snapshots
    try {
      snapshots = options !== null && typeof options === 'object' && options.heapSnapshot !== undefined && options.heapSnapshot !== null
    } catch {
      snapshots = true
    }
    if (!snapshots) return new Native(options)
    if (WithSnapshots === null) WithSnapshots = require('./heap-snapshot.js').withHeapSnapshots(Native)
    return new WithSnapshots(options)
  }
}

module.exports = { nativeClass }
