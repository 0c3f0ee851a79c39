'use strict'
// The dumper's evidence in the host's own OpenTelemetry (docs/telemetry.md): the recorder's
// samples as instruments of the host's meter, each dump and the last run's end as log records
// of the host's logger. Loaded only by a dumper given `options.telemetry` (or previousRun()
// given one): nothing of OpenTelemetry is ever required here, only the objects the host
// passes are called, so a host without telemetry pays nothing. Everything that leaves passes
// the redaction rule bundle uses (lib/rules/redact.js). Nothing here may throw into the host:
// a problem is one warning, and the instrument or record is left out.

const fs = require('node:fs')
const v8 = require('node:v8')
const { blockingFrame, placeOf } = require('../rules/frames')
const { redactJson, redactionRules } = require('../rules/redact')

/** The most of a redacted document a log record's body carries on request (`documentBytes`). */
const MAX_DOCUMENT_BYTES = 256 * 1024
/** A dump larger than this is not read for its record's attributes (dumps are 10-50 KiB). */
const READ_DUMP_BYTES = 2 * 1024 * 1024
/** OpenTelemetry's severity numbers (the log data model), so that @opentelemetry/api-logs is never required. */
const SEVERITY = { INFO: 9, WARN: 13, ERROR: 17 }
const SCOPE = 'memory_diagnostics'

/**
 * The instruments, named by OpenTelemetry's semantic conventions where they have the figure
 * (process, V8, container memory), else under `memory_diagnostics.`; `from` reads a sample
 * (the recorder's trail record, docs/schema.md). docs/telemetry.md lists them.
 */
const GAUGES = [
  ['process.memory.usage', 'By', 'Resident set size of the process (the recorder sample)', (s) => s.rssBytes],
  ['v8js.memory.heap.used', 'By', "V8's heap used, all spaces together", (s) => s.heapUsedBytes],
  ['v8js.memory.heap.limit', 'By', "V8's heap size limit", (s) => s.heapLimitBytes],
  ['container.memory.usage', 'By', "The memory cgroup's usage", (s) => s.cgroupUsageBytes],
  [`${SCOPE}.v8.external`, 'By', "V8's external memory (ArrayBuffers and other native memory V8 is told of)", (s) => s.externalBytes],
  [`${SCOPE}.v8.array_buffers`, 'By', 'Memory of ArrayBuffers and Buffers', (s) => s.arrayBuffersBytes],
  [`${SCOPE}.children.memory.usage`, 'By', "The child processes' resident set size", (s) => s.childrenRssBytes],
  [`${SCOPE}.memory.psi.some_avg10`, '%', 'Share of the last 10 s some task stalled on memory (PSI)', (s) => s.psiSomeAvg10],
  [`${SCOPE}.sample.age`, 'ms', 'How old the sample is when read', (s, now) => (typeof s.epochMs === 'number' ? Math.max(0, now - s.epochMs) : null)],
]
const LIMIT_GAUGE = [`${SCOPE}.memory.limit`, 'By', 'The effective memory limit that ends the process; attribute memory_diagnostics.limit.source']

/**
 * What a thrown value was, by its class's name when that is an identifier, else "a value":
 * never its message, never text of the host's (a getter that throws is not run twice).
 */
function kindOf(e) {
  try {
    const ctor = e !== null && (typeof e === 'object' || typeof e === 'function') ? Object.getPrototypeOf(e)?.constructor : null
    const name = ctor ? Object.getOwnPropertyDescriptor(ctor, 'name')?.value : typeof e
    return typeof name === 'string' && /^[A-Za-z_$][\w$]{0,40}$/.test(name) ? `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name}` : 'a value'
  } catch {
    return 'a value'
  }
}

/** Telemetry's warnings, each said once per process whatever the number of dumpers. */
const warned = new Set()
function warnOnce(warn, message) {
  if (warned.has(message)) return
  warned.add(message)
  try {
    warn(message, 'TelemetryFailed')
  } catch {}
}

/** `options.telemetry` checked: `{ meter, meterMethods, logger, emit, documentBytes }`, or an `InvalidArg` error naming the field. */
function check(t) {
  const bad = (field, expected) => {
    const e = new Error(`options.telemetry${field}: expected ${expected}`)
    e.code = 'InvalidArg'
    return e
  }
  const threw = (field, e) => {
    const err = new Error(`options.telemetry${field}: reading it threw (${kindOf(e)})`)
    err.code = 'InvalidArg'
    return err
  }
  if (t === null || typeof t !== 'object' || Array.isArray(t)) throw bad('', 'an object with a meter and/or a logger from @opentelemetry/api')
  let keys
  try {
    keys = Object.keys(t)
  } catch (e) {
    throw threw('', e)
  }
  for (const k of keys)
    if (!['meter', 'logger', 'documentBytes'].includes(k)) throw bad(`.${k.slice(0, 64)}`, 'one of meter, logger, documentBytes (an unknown option)')
  // Own fields only (a polluted prototype is no option), each read once.
  const own = (k) => {
    try {
      return Object.hasOwn(t, k) ? t[k] : undefined
    } catch (e) {
      throw threw(`.${k}`, e)
    }
  }
  const meter = own('meter')
  const logger = own('logger')
  const documentBytes = own('documentBytes') ?? 0
  // The methods a meter and a logger need, read once here: a getter or a Proxy trap that throws is named by its field.
  const methods = (obj, field, names, expected) => {
    if (obj == null) return null
    if (typeof obj !== 'object' && typeof obj !== 'function') throw bad(field, expected)
    const out = {}
    for (const n of names) {
      try {
        out[n] = obj[n]
      } catch (e) {
        throw threw(`${field}.${n}`, e)
      }
    }
    return out
  }
  const METER = 'a Meter (metrics.getMeter(...) of @opentelemetry/api)'
  const LOGGER = 'a Logger (logs.getLogger(...) of @opentelemetry/api-logs)'
  const m = methods(meter, '.meter', ['createObservableGauge', 'createCounter', 'addBatchObservableCallback', 'removeBatchObservableCallback'], METER)
  if (m && (typeof m.createObservableGauge !== 'function' || typeof m.createCounter !== 'function')) throw bad('.meter', METER)
  const l = methods(logger, '.logger', ['emit'], LOGGER)
  if (l && typeof l.emit !== 'function') throw bad('.logger', LOGGER)
  if (meter == null && logger == null) throw bad('', 'a meter or a logger (or both)')
  if (!Number.isSafeInteger(documentBytes) || documentBytes < 0 || documentBytes > MAX_DOCUMENT_BYTES)
    throw bad('.documentBytes', `an integer from 0 to ${MAX_DOCUMENT_BYTES} (the most of the redacted document a log record carries; 0: none)`)
  return { meter: meter ?? null, meterMethods: m, logger: logger ?? null, emit: l?.emit ?? null, documentBytes }
}

/** What the host's figures say now, for an implementation without a recorder (the JS fallback). */
function liveSample() {
  const u = process.memoryUsage()
  const h = v8.getHeapStatistics()
  return {
    epochMs: Date.now(),
    rssBytes: u.rss,
    heapUsedBytes: h.used_heap_size,
    heapLimitBytes: h.heap_size_limit,
    externalBytes: u.external,
    arrayBuffersBytes: u.arrayBuffers,
  }
}

let rules = null
/** Redacted as bundle redacts (lib/rules/redact.js); the rules made once. */
function redacted(value) {
  rules ??= redactionRules(process.env)
  return redactJson(value, rules, { tally: {}, changes: [], changed: 0, file: '' })
}

/** A frame of a document as `function (file:line)`, or null. */
function frameText(f) {
  if (!f || typeof f !== 'object') return null
  const fn = typeof f.function === 'string' && f.function ? f.function : '(anonymous)'
  return `${fn} (${placeOf({ script: typeof f.script === 'string' ? f.script : '', line: Number.isInteger(f.line) ? f.line : null })})`
}
const frameOf = (f) => ({ function: typeof f?.function === 'string' ? f.function : '', script: typeof f?.script === 'string' ? f.script : '', line: f?.line })

/**
 * A dump's document, read within READ_DUMP_BYTES, or null. Opened as inspect opens files: never
 * through a link, never blocking (a FIFO put in the dump's place would block the JS thread).
 */
function readDoc(file) {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0))
    try {
      const st = fs.fstatSync(fd)
      if (!st.isFile() || st.size > READ_DUMP_BYTES) return null
      const buf = Buffer.allocUnsafe(st.size)
      let got = 0
      while (got < st.size) {
        const n = fs.readSync(fd, buf, got, st.size - got, got)
        if (n === 0) break
        got += n
      }
      const doc = JSON.parse(buf.subarray(0, got).toString('utf8'))
      return doc && typeof doc === 'object' && !Array.isArray(doc) ? doc : null
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return null
  }
}

/** A dump's log record: what it is, what the document says (top risk, growth, top site, the stall's blocking function). */
function dumpRecord(d, documentBytes) {
  const doc = d.filePath ? readDoc(d.filePath) : null
  const attrs = {
    'event.name': `${SCOPE}.dump`,
    [`${SCOPE}.trigger`]: d.trigger,
    [`${SCOPE}.dump.number`]: d.dumpNumber ?? doc?.dumpNumber ?? null,
    [`${SCOPE}.dump.complete`]: d.complete ?? doc?.collectionComplete ?? null,
    'file.path': d.filePath ?? null,
    'process.pid': process.pid,
  }
  if (doc) {
    const risk = Array.isArray(doc.analysis?.risks) ? doc.analysis.risks[0] : null
    if (typeof risk?.type === 'string') attrs[`${SCOPE}.risk.top`] = risk.type
    if (typeof doc.analysis?.growth?.label === 'string') attrs[`${SCOPE}.growth.kind`] = doc.analysis.growth.label
    if (typeof doc.analysis?.growth?.bytes === 'number') attrs[`${SCOPE}.growth.bytes`] = doc.analysis.growth.bytes
    const sites = doc.allocationProfile?.status === 'taken' && Array.isArray(doc.allocationProfile.sites) ? doc.allocationProfile.sites : []
    if (sites.length) {
      const top = sites[0]
      const blame = blockingFrame([top, ...(Array.isArray(top.path) ? top.path.slice(0, 8) : [])].map(frameOf))
      attrs[`${SCOPE}.allocation.top_site`] = frameText(blame)
    }
    const frames = Array.isArray(doc.watchdog?.stack?.frames) ? doc.watchdog.stack.frames.slice(0, 32).map(frameOf) : []
    if (frames.length) attrs[`${SCOPE}.stall.blocking_function`] = frameText(blockingFrame(frames))
    if (typeof doc.watchdog?.stalledMs === 'number') attrs[`${SCOPE}.stall.ms`] = doc.watchdog.stalledMs
    if (typeof doc.memoryLimit?.source === 'string') attrs[`${SCOPE}.limit.source`] = doc.memoryLimit.source
  }
  for (const k of Object.keys(attrs)) if (attrs[k] === null || attrs[k] === undefined) delete attrs[k]
  let body = `memory-diagnostics-dumper wrote dump #${attrs[`${SCOPE}.dump.number`] ?? '?'} (${d.trigger})${d.filePath ? `: ${d.filePath}` : ''}`
  if (documentBytes > 0 && doc) {
    const text = JSON.stringify(redacted(doc))
    if (Buffer.byteLength(text) <= documentBytes) body = text
    else attrs[`${SCOPE}.document.omitted`] = `${Buffer.byteLength(text)} bytes redacted, over telemetry.documentBytes (${documentBytes})`
  }
  const critical = d.trigger === 'critical' || d.trigger === 'pressure' || d.trigger === 'watchdog'
  return {
    eventName: `${SCOPE}.dump`,
    severityNumber: critical ? SEVERITY.ERROR : SEVERITY.WARN,
    severityText: critical ? 'ERROR' : 'WARN',
    body: redacted(body),
    attributes: redacted(attrs),
  }
}

/** The last run's end (previousRun's answer) as one log record. */
function previousRunRecord(r) {
  const attrs = {
    'event.name': `${SCOPE}.previous_run`,
    [`${SCOPE}.outcome`]: r.outcome,
    [`${SCOPE}.died`]: r.died === true,
    [`${SCOPE}.cause.kind`]: r.cause?.kind ?? null,
    [`${SCOPE}.cause.confirmed`]: r.cause ? r.cause.confirmed : null,
    [`${SCOPE}.cause`]: r.cause?.text ?? null,
    [`${SCOPE}.ended_at`]: r.at ?? null,
    [`${SCOPE}.previous.pid`]: r.pid ?? null,
    [`${SCOPE}.growth.kind`]: r.growth?.kind ?? null,
    [`${SCOPE}.growth.bytes`]: r.growth?.bytes ?? null,
    [`${SCOPE}.allocation.top_site`]: r.site ? `${r.site.function} (${r.site.place})` : null,
    [`${SCOPE}.stall.blocking_function`]: r.blockedIn ? `${r.blockedIn.function} (${r.blockedIn.place})` : null,
    [`${SCOPE}.files`]: Array.isArray(r.files) ? r.files.slice(0, 16) : null,
    [`${SCOPE}.bundle_command`]: r.bundleCommand ?? null,
  }
  for (const k of Object.keys(attrs)) if (attrs[k] === null || attrs[k] === undefined) delete attrs[k]
  return {
    eventName: `${SCOPE}.previous_run`,
    severityNumber: r.died ? SEVERITY.ERROR : SEVERITY.INFO,
    severityText: r.died ? 'ERROR' : 'INFO',
    body: redacted(
      r.line ??
        `The last run of this program (pid ${r.pid ?? '?'}) ended${r.outcome === 'clean exit' ? ' cleanly' : `: ${r.outcome}`}${r.at ? ` at ${r.at}` : ''}.`,
    ),
    attributes: redacted(attrs),
  }
}

/** Emits `record` on the host's logger: null, or what it threw (never thrown on). A promise it returns is never left to reject unhandled. */
function emit(logger, emitFn, record) {
  try {
    const r = Reflect.apply(emitFn, logger, [{ ...record, timestamp: new Date(), observedTimestamp: new Date() }])
    if (r !== null && (typeof r === 'object' || typeof r === 'function')) {
      try {
        const then = r.then
        if (typeof then === 'function') Reflect.apply(then, r, [undefined, () => {}])
      } catch {}
    }
    return null
  } catch (e) {
    return { thrown: e }
  }
}

/** Removes a collected dumper's gauges from the host's meter. */
const collected = new FinalizationRegistry((close) => close())

/**
 * Connects a dumper to the host's telemetry (`t`, checked by `check`). `inner` is the
 * implementation (its `latestSample()` where there is a recorder); `warn(message, code)` the
 * dumper's warning. Returns `{ dumped(result), close() }`; neither ever throws.
 */
function attach(t, inner, warn) {
  const handle = { dumped() {}, close() {}, count: null }
  const fail = (what, e, lost) => warnOnce(warn, `telemetry: ${what} threw ${kindOf(e)}; ${lost}`)
  if (t.meter) {
    const m = t.meterMethods
    const weak = new WeakRef(inner)
    const gauges = []
    // Each instrument on its own: one that the meter refuses costs itself.
    for (const [name, unit, description, from] of GAUGES) {
      try {
        gauges.push([Reflect.apply(m.createObservableGauge, t.meter, [name, { unit, description }]), from])
      } catch (e) {
        fail('meter.createObservableGauge', e, 'the gauges it refused were left out')
      }
    }
    let limit = null
    try {
      limit = Reflect.apply(m.createObservableGauge, t.meter, [LIMIT_GAUGE[0], { unit: LIMIT_GAUGE[1], description: LIMIT_GAUGE[2] }])
    } catch (e) {
      fail('meter.createObservableGauge', e, 'the gauges it refused were left out')
    }
    try {
      const dumps = Reflect.apply(m.createCounter, t.meter, [`${SCOPE}.dumps`, { unit: '{dump}', description: 'Dumps written, by trigger' }])
      const add = dumps?.add
      if (typeof add === 'function')
        handle.count = (trigger) => {
          try {
            Reflect.apply(add, dumps, [1, { [`${SCOPE}.trigger`]: trigger }])
          } catch (e) {
            fail('counter.add', e, 'the dump was not counted')
          }
        }
    } catch (e) {
      fail('meter.createCounter', e, `${SCOPE}.dumps was left out`)
    }
    const read = () => {
      const impl = weak.deref()
      if (impl === undefined) return null
      const json = typeof impl.latestSample === 'function' ? impl.latestSample() : null
      const latest = json == null ? null : JSON.parse(json)
      // No recorder (the JS fallback, a native dumper without one), or none of its samples yet:
      // the figures of now.
      if (!latest?.sample) return { sample: liveSample(), limitBytes: null, limitSource: null }
      // The recorder has V8's figures only from observe() and dump(): without them, V8's
      // figures of now (the sample's own figures, RSS and the cgroup's, stay the recorder's).
      if (latest.sample.heapUsedBytes == null) {
        const live = liveSample()
        for (const k of ['heapUsedBytes', 'heapLimitBytes', 'externalBytes', 'arrayBuffersBytes']) latest.sample[k] = live[k]
      }
      return latest
    }
    const callback = (result) => {
      try {
        const latest = read()
        if (latest === null) return
        const now = Date.now()
        for (const [g, from] of gauges) {
          const v = from(latest.sample, now)
          if (typeof v === 'number' && Number.isFinite(v)) result.observe(g, v)
        }
        if (limit !== null && typeof latest.limitBytes === 'number')
          result.observe(limit, latest.limitBytes, { [`${SCOPE}.limit.source`]: latest.limitSource ?? 'unknown' })
      } catch (e) {
        fail('reading the sample', e, 'that collection has no figures of it')
      }
    }
    const all = [...gauges.map(([g]) => g), ...(limit ? [limit] : [])]
    if (typeof m.addBatchObservableCallback === 'function' && all.length) {
      try {
        Reflect.apply(m.addBatchObservableCallback, t.meter, [callback, all])
        let removed = false
        const remove = () => {
          if (removed) return
          removed = true
          try {
            if (typeof m.removeBatchObservableCallback === 'function') Reflect.apply(m.removeBatchObservableCallback, t.meter, [callback, all])
          } catch {}
        }
        handle.close = () => {
          collected.unregister(handle)
          remove()
        }
        // A dumper the host dropped takes its gauges with it.
        collected.register(inner, remove, handle)
      } catch (e) {
        fail('meter.addBatchObservableCallback', e, 'the gauges were left out')
      }
    } else if (all.length) warnOnce(warn, 'telemetry: the meter has no addBatchObservableCallback (@opentelemetry/api 1.3 or later); the gauges were left out')
  }
  handle.dumped = (d) => {
    try {
      if (!d || d.written !== true) return
      handle.count?.(d.trigger)
      if (t.logger) {
        const r = emit(t.logger, t.emit, dumpRecord(d, t.documentBytes))
        if (r) fail('logger.emit', r.thrown, 'that record was left out')
      }
    } catch (e) {
      fail('the dump record', e, 'that record was left out')
    }
  }
  return handle
}

/** previousRun()'s answer as one record on `telemetry.logger` (checked here: never throws; a problem is one warning). */
/** Sends `previousRun()`'s answer as one record, through telemetry `t` that check() accepted (before anything was claimed). */
function reportPreviousRun(t, found) {
  const say = (m) => warnOnce((message, code) => process.emitWarning(message, { type: 'MemoryDiagnosticsDumperWarning', code }), m)
  try {
    if (!t.logger) return
    const r = emit(t.logger, t.emit, previousRunRecord(found))
    if (r) say(`telemetry: logger.emit threw ${kindOf(r.thrown)}; the last run's record was left out`)
  } catch {}
}

module.exports = { GAUGES, LIMIT_GAUGE, MAX_DOCUMENT_BYTES, attach, check, dumpRecord, previousRunRecord, reportPreviousRun }
