'use strict'
// The JS half of the opt-in heap snapshot (docs/heap-snapshots.md). V8's snapshot API is
// only reachable from JS, so when a dump's phase 2 (native, off the JS thread) allows a
// snapshot, it hands back a ticket; this wrapper has V8 write the snapshot into the locked
// temporary file the native side prepared, then hands it back to the native side, which
// copies it (redacting string values) off the JS thread, lands it under its final name and
// records the outcome in the dump. Nothing here throws into the host.

/** Set once the `exit` handler that removes raw snapshots is installed (one per process). */
let exitHandler = false

/** A subclass of the native dumper whose dump() promise includes the snapshot. */
function withHeapSnapshots(Native) {
  class MemoryDiagnosticsDumper extends Native {
    /** Whether this dumper may take snapshots (else its promises are passed on as they are). */
    #snapshots = false

    constructor(options) {
      super(options)
      try {
        this.#snapshots = options.heapSnapshot !== undefined && options.heapSnapshot !== null
      } catch {
        this.#snapshots = true
      }
    }

    dump(trigger, input, guardWarnings) {
      return this.#after(super.dump(trigger, input, guardWarnings))
    }

    /** The fast path's dump (fast-path.js): the same, with the figures in the lent block. */
    dumpFigures(trigger, heapSpaces, activeResources, session, samples) {
      return this.#after(super.dumpFigures(trigger, heapSpaces, activeResources, session, samples))
    }

    #after(p) {
      if (!this.#snapshots) return p
      return p.then((r) => (r && r.heapSnapshot && r.heapSnapshot.status === 'pending' ? this.#snapshot(r) : r))
    }

    async #snapshot(result) {
      const ticket = result.heapSnapshot.ticket
      // No raw, unredacted snapshot outlives its process: on Linux the raw file has no
      // name at all; where it has one, process.exit() and a natural exit remove it here
      // (a signal's default action runs no JS: the next dumper's sweep removes it then).
      if (!exitHandler && typeof Native.discardRawSnapshots === 'function') {
        exitHandler = true
        process.on('exit', () => {
          try {
            Native.discardRawSnapshots()
          } catch {}
        })
      }
      let hs = null
      try {
        const tmp = this.heapSnapshotStart(ticket)
        let error = null
        const started = performance.now()
        if (tmp === null || tmp === undefined) error = 'the pending snapshot was not found'
        else {
          try {
            require('node:v8').writeHeapSnapshot(tmp)
          } catch (e) {
            error = String((e && e.message) || e).slice(0, 500)
          }
        }
        hs = await this.heapSnapshotFinish(ticket, performance.now() - started, error)
      } catch (e) {
        hs = { status: 'failed', error: `internal error: ${String((e && e.message) || e).slice(0, 500)}` }
      }
      const out = { ...result, heapSnapshot: hs || { status: 'failed', error: 'the pending snapshot was not found' } }
      delete out.heapSnapshot.ticket
      return out
    }
  }
  return MemoryDiagnosticsDumper
}

module.exports = { withHeapSnapshots }
