'use strict'
// Twin of src/dump/mod.rs (the Dumper: admission, phase 1, phase 2).
// The pure-JS implementation, used when the native binding cannot be loaded (an
// unsupported platform, a missing optional dependency, the wrong libc) or when
// MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS=1. Same API, same document schema, same file rules
// and the same argument errors as the native addon; the test suite runs against both.
//
// What it cannot do as well: phase 1 allocates on the JS heap, phase 2 runs on the JS
// thread (its file reads use the libuv threadpool), and the cgroup and process-tree
// probes are native-only (listed in `collection.failedProbes`).
//
// The rules it shares with the native addon live in modules named after their Rust twins
// (options, input, writer, accounting, analysis, format), each checked against golden
// files that cargo test writes; this file holds the dumper class that ties them together.

const fs = require('node:fs')
const path = require('node:path')
const { version: addonVersion } = require('../../package.json')

// Everything both implementations must agree on (limits, defaults, field tables, option
// names, strings, thresholds, name patterns) comes from the Rust crate through contract.json.
const CONTRACT = require('../contract.json')
const { limits: LIMITS } = CONTRACT.options
const { describe, expectObject, invalidArg, readOptions, shortSessionId, truncateChars } = require('./config')
const { readInput } = require('./input')
const { DUMP_NAME, applyRetention, prepareDir, replaceOwn, sweepStaleTemps, writeNewSync } = require('./writer')
const { collect, processStartMs } = require('./probes')
const { accounting, growthPoint } = require('./accounting')
const { analyze } = require('../rules/analysis')
const { factsFromDocument } = require('./facts')
// The cooldown's monotonic clock, taken when this module loads so that fake timers in a
// host's tests leave it alone (as they leave the native clock alone); `options.now` is
// the way to drive it.
const monotonicNow = performance.now.bind(performance)
// Likewise the turn phase 2 waits for: fake timers in a host's tests must not hold it back.
const realSetImmediate = setImmediate
const TRIGGERS = CONTRACT.triggers.accepted
const ACCEPTED_TRIGGERS = CONTRACT.triggers.acceptedText

// ---- heap snapshot option -------------------------------------------------------------

const HEAP_SNAPSHOT_UNSUPPORTED =
  'unsupported in the js implementation: the redacting copy and the memory guard need the native addon (see docs/heap-snapshots.md)'

// ---- the dumper ---------------------------------------------------------------------

function create(fallbackReason) {
  class MemoryDiagnosticsDumper {
    #config
    #short
    #count = 0
    #last = null
    #problem = null
    #tightenedFrom = null
    #closed = false
    /** The first dump's growth point (this process), for the next dumps' growth attribution. */
    #firstPoint = { point: null }

    constructor(options) {
      const o = readOptions(options)
      const { directory: dir, sessionId, maxFiles } = o
      this.#config = {
        directory: dir,
        maxDumpsPerSession: o.maxDumpsPerSession,
        cooldownMs: o.cooldownMs,
        maxFiles,
        appVersion: o.appVersion,
        suggestions: o.suggestions,
        nativeOnly: o.nativeOnly,
        smapsRollup: o.smapsRollup,
        heapSnapshot: o.heapSnapshot,
        now: o.now,
        clock: 0,
      }
      this.#short = shortSessionId(sessionId)
      // An unusable directory is the dumper's `problem`, never a throw: the host must start
      // even when its diagnostics cannot.
      try {
        this.#tightenedFrom = prepareDir(dir)
        try {
          fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK)
        } catch (e) {
          throw new Error(`could not write to diagnostics directory ${dir}: ${e.message}`)
        }
      } catch (e) {
        this.#problem = e.message
      }
      // Stale temporary files and retention across every process using the directory (not
      // the crisis path: a dumper is made once).
      if (!this.#problem) {
        sweepStaleTemps(dir)
        applyRetention(dir, maxFiles)
      }
    }

    get dumpCount() {
      return this.#count
    }

    get directory() {
      return this.#config.directory
    }

    get sessionId() {
      return this.#short
    }

    get problem() {
      return this.#problem
    }

    /** Accepted for API compatibility; the recorder and watchdog are native-only. */
    observe(heapStatistics, memoryUsage) {
      expectObject(heapStatistics, 'heapStatistics')
      expectObject(memoryUsage, 'memoryUsage')
    }

    close() {
      this.#closed = true
    }

    /**
     * Internal (the package's entry calls it once a dump's phase 2 is on disk): adds the
     * allocation profile `section` (JSON) to the dump `filePath`, as the native addon does
     * (src/allocation_profile.rs): only to this process's own dump in this dumper's directory, once,
     * before `collection`, by an atomic replace. Resolves null, or why it could not.
     */
    async allocationProfileAttach(filePath, section) {
      try {
        const name = path.basename(String(filePath))
        if (!DUMP_NAME.test(name)) return `${name} is not a dump file name`
        const finalPath = path.join(this.#config.directory, name)
        const st = await fs.promises.lstat(finalPath)
        if (!st.isFile() || st.size > LIMITS.allocationMaxDumpBytes) return `could not read ${finalPath}: not a regular dump file`
        const doc = JSON.parse(await fs.promises.readFile(finalPath, 'utf8'))
        if (doc === null || typeof doc !== 'object' || doc.pid !== process.pid) return `${finalPath} is another process's dump`
        if ('allocationProfile' in doc) return `${finalPath} already has an allocation profile`
        const out = {}
        for (const [k, v] of Object.entries(doc)) {
          if (k === 'collection') out.allocationProfile = JSON.parse(section)
          out[k] = v
        }
        await replaceOwn(this.#config.directory, name, { dev: st.dev, ino: st.ino }, JSON.stringify(out, null, 2))
        return null
      } catch (e) {
        return String((e && e.message) || e).slice(0, 500)
      }
    }

    resetForNewSession(sessionId) {
      if (sessionId !== undefined && sessionId !== null && typeof sessionId !== 'string') {
        throw invalidArg('sessionId', 'a string, or undefined', describe(sessionId))
      }
      this.#count = 0
      this.#last = null
      if (typeof sessionId === 'string') this.#short = shortSessionId(sessionId)
    }

    /** `guardWarnings`: the public class's lines on input reads that threw (its second try). */
    dump(trigger, input, guardWarnings) {
      const started = process.hrtime.bigint()
      if (typeof trigger !== 'string' || !TRIGGERS.includes(trigger)) {
        throw invalidArg('trigger', ACCEPTED_TRIGGERS, describe(typeof trigger === 'string' ? trigger.slice(0, 64) : trigger))
      }
      const parsed = readInput(input)
      if (Array.isArray(guardWarnings)) {
        const { maxGuardWarnings, maxGuardWarningChars } = CONTRACT.input
        parsed.warnings.unshift(...guardWarnings.slice(0, maxGuardWarnings + 1).map((w) => truncateChars(String(w), maxGuardWarningChars)[0]))
      }
      const c = this.#config
      let now = monotonicNow()
      if (c.now) {
        // The host's clock (fake timers in its tests); the monotonic clock otherwise.
        let v
        try {
          v = c.now()
        } catch {}
        if (typeof v === 'number' && Number.isFinite(v)) c.clock = Math.floor(Math.max(0, v))
        else parsed.warnings.push('options.now: threw or did not return a number; the cooldown used its previous value')
        now = c.clock
      }
      if (this.#problem) return Promise.resolve({ trigger, complete: false, written: false, error: this.#problem })
      const skip = (skipped, retryAfterMs) => Promise.resolve({ trigger, complete: false, written: false, skipped, retryAfterMs })
      if (this.#closed) return skip('closed', null)
      if (this.#count >= c.maxDumpsPerSession) return skip('cap', null)
      if (this.#last !== null && now - this.#last < c.cooldownMs) return skip('cooldown', Math.ceil(c.cooldownMs - Math.max(0, now - this.#last)))
      this.#count += 1
      this.#last = now
      const dumpNumber = this.#count
      const at = new Date()
      const timestamp = at.toISOString()
      const baseName = `${CONTRACT.files.dumpPrefix}${this.#short}-${timestamp.replace(/[:.]/g, '-')}-${dumpNumber}${CONTRACT.files.dumpSuffix}`
      let filePath = path.join(c.directory, baseName)
      const doc = {
        schemaVersion: CONTRACT.schemaVersion,
        trigger,
        dumpNumber,
        sessionId: this.#short,
        pid: process.pid,
        processStartMs: processStartMs(),
        timestamp,
        collectionComplete: false,
        atTrigger: parsed.atTrigger,
        session: parsed.session,
        suggestion: c.suggestions[trigger] ?? null,
        runtime: {
          nodeVersion: process.versions.node,
          napiVersion: Number(process.versions.napi) || null,
          platform: process.platform,
          arch: process.arch,
          addonVersion,
          appVersion: c.appVersion,
          implementation: 'js',
          fallbackReason,
        },
        inputWarnings: parsed.warnings,
        ...(parsed.samples && { samples: parsed.samples }),
        collection: { phase1Micros: 0, phase1Path: 'unarmed' },
      }
      let tightenedFrom = this.#tightenedFrom
      this.#tightenedFrom = null
      const heapSnapshot = c.heapSnapshot && c.heapSnapshot.triggers.includes(trigger) ? { status: 'skipped', skipped: HEAP_SNAPSHOT_UNSUPPORTED } : null
      const result = (complete, written, error) => ({
        filePath,
        trigger,
        dumpNumber,
        complete,
        written,
        ...(error && { error }),
        ...(heapSnapshot && complete && { heapSnapshot }),
      })
      let landed
      try {
        tightenedFrom = prepareDir(c.directory) ?? tightenedFrom
        if (tightenedFrom !== null) {
          // Before `collection`, where the native document has it.
          const collection = doc.collection
          delete doc.collection
          doc.directory = { tightenedFrom: tightenedFrom.toString(8) }
          doc.collection = collection
        }
        doc.collection.phase1Micros = Number((process.hrtime.bigint() - started) / 1000n)
        landed = writeNewSync(c.directory, baseName, JSON.stringify(doc, null, 2))
      } catch (e) {
        // A document that could not be written leaves the note for the next one.
        if (tightenedFrom !== null && this.#tightenedFrom === null) this.#tightenedFrom = tightenedFrom
        return Promise.resolve(result(false, false, `phase 1: ${e.message}`))
      }
      filePath = path.join(c.directory, landed.name)
      doc.collection.phase1Micros = Number((process.hrtime.bigint() - started) / 1000n)
      return phase2(doc, c, landed, heapSnapshot, this.#firstPoint).then(
        () => result(true, true),
        (e) => result(false, true, `phase 2: ${e.message}; the phase-1 document is left in place`),
      )
    }
  }

  async function phase2(doc, c, landed, heapSnapshot, first) {
    // After phase 1, on a later turn: retention (never the file just written) and the sweep.
    await new Promise((resolve) => realSetImmediate(resolve))
    applyRetention(c.directory, c.maxFiles, [landed.name])
    sweepStaleTemps(c.directory)
    const t = process.hrtime.bigint()
    const got = await collect(c.smapsRollup)
    const sys = got.system
    const memoryLimit = sys && {
      effectiveLimitBytes: sys.totalMemory,
      source: 'physical',
      usageBytes: sys.totalMemory - sys.availableMemory,
      headroomBytes: sys.availableMemory,
      usageRatio: Math.round(((sys.totalMemory - sys.availableMemory) / sys.totalMemory) * 1e4) / 1e4,
    }
    const st = got.process.status
    const memoryAccounting = accounting(st, doc.atTrigger)
    const now = Date.now()
    const point = growthPoint(now, memoryAccounting, doc.atTrigger)
    const growthPoints = first.point && first.point.epochMs < now ? [first.point, point] : [point]
    if (!first.point) first.point = point
    const sections = { process: got.process, ...(sys && { system: sys }), ...(memoryLimit && { memoryLimit }), ...(got.pressure && { pressure: got.pressure }) }
    // The facts are read from the document as written (facts.js, the twin of src/dump/facts.rs).
    const analysis = analyze({ ...factsFromDocument({ ...doc, ...sections }), growthPoints })
    const enriched = {
      ...doc,
      collectionComplete: true,
      ...sections,
      memoryAccounting,
      analysis,
      ...(heapSnapshot && { heapSnapshot }),
      collection: {
        phase1Micros: doc.collection.phase1Micros,
        phase1Path: doc.collection.phase1Path,
        phase2Millis: Number((process.hrtime.bigint() - t) / 1000n) / 1000,
        probeMicros: got.probeMicros,
        failedProbes: [
          ...got.failedProbes,
          ...c.nativeOnly.map((probe) => ({ probe, reason: 'unavailable in the js implementation: it needs a native thread' })),
        ],
        skippedProbes: got.skippedProbes,
      },
    }
    await replaceOwn(c.directory, landed.name, landed.id, JSON.stringify(enriched, null, 2))
  }

  return { MemoryDiagnosticsDumper }
}

module.exports = { create, analyze }
