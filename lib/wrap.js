'use strict'
// The public MemoryDiagnosticsDumper, the same over both implementations (the native
// addon and fallback.js). It adds what only the JS thread can do cheaply and what keeps
// the crisis path safe for the host:
// - `dump(trigger)` with input omitted collects the figures itself (each omitted field
//   of `input` is collected; a field the host passes wins);
// - `dump()` never throws and never rejects: a bad argument resolves
//   `{ written: false, complete: false, error }` and emits one process warning per
//   distinct problem; the implementation underneath still validates every value;
// - an unusable directory found at construction (`dumper.problem`) is warned about once.
const v8 = require('node:v8')

const WARNING_TYPE = 'MemoryDiagnosticsDumperWarning'
const TRIGGERS = require('./contract.json').triggers.accepted
/** Distinct warnings per dumper; beyond this the results still carry the error. */
const MAX_WARNINGS = 32

/** `process.getActiveResourcesInfo()` counted by type: `{ TCPWrap: 2, Timeout: 5 }`. */
function activeResources() {
  if (typeof process.getActiveResourcesInfo !== 'function') return undefined
  const counts = {}
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] || 0) + 1
  return counts
}

/** The host's input with every omitted (undefined) field collected here. */
function fill(input) {
  const given = input ?? {}
  if (typeof given !== 'object' || Array.isArray(given)) return input
  return {
    heapStatistics: given.heapStatistics === undefined ? v8.getHeapStatistics() : given.heapStatistics,
    memoryUsage: given.memoryUsage === undefined ? process.memoryUsage() : given.memoryUsage,
    heapSpaces: given.heapSpaces === undefined ? v8.getHeapSpaceStatistics() : given.heapSpaces,
    activeResources: given.activeResources === undefined ? activeResources() : given.activeResources,
    session: given.session,
    samples: given.samples,
  }
}

function wrap(Implementation) {
  class MemoryDiagnosticsDumper {
    #inner
    #warned = new Set()

    constructor(options) {
      this.#inner = new Implementation(options)
      const problem = this.#inner.problem
      if (problem) this.#warn(`diagnostics are disabled: ${problem}`, 'DirectoryUnusable')
    }

    #warn(message, code) {
      if (this.#warned.has(message) || this.#warned.size >= MAX_WARNINGS) return
      this.#warned.add(message)
      try {
        process.emitWarning(message, { type: WARNING_TYPE, code })
      } catch {}
    }

    dump(trigger, input) {
      const refused = (e, prefix) => {
        const error = prefix + String((e && e.message) || e)
        this.#warn(`dump(): ${error}`, (e && e.code) || 'Error')
        return { ...(TRIGGERS.includes(trigger) && { trigger }), complete: false, written: false, error }
      }
      try {
        // The implementations resolve every outcome; a rejection would be a bug in them, and
        // still must not become an unhandled rejection in a host that ignores the promise.
        return Promise.resolve(this.#inner.dump(trigger, fill(input))).then(undefined, (e) => refused(e, 'internal error: '))
      } catch (e) {
        return Promise.resolve(refused(e, ''))
      }
    }

    observe(heapStatistics, memoryUsage) {
      this.#inner.observe(heapStatistics === undefined ? v8.getHeapStatistics() : heapStatistics, memoryUsage === undefined ? process.memoryUsage() : memoryUsage)
    }

    close() {
      this.#inner.close()
    }

    resetForNewSession(sessionId) {
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

module.exports = { wrap, fill, activeResources, WARNING_TYPE }
