'use strict'
// Twin of src/config/.
// The options and argument rules. `readOptions` checks a
// host's options object in the order the native addon does (src/config/ `from_tree`
// then `validate`): the object, its unknown keys, each nested object's type and unknown
// keys, then the values. `tests/fixtures/golden/options.json` (written by cargo test)
// holds the first error each case gives; __test__/contract.spec.ts runs this file on it.

const CONTRACT = require('../contract.json')
const { numberText, quote } = require('../rules/format')
const { shortSessionId } = require('../rules/names')

const { defaults: DEFAULTS, limits: LIMITS } = CONTRACT.options
const MAX_TEXT_OPTION_CHARS = LIMITS.textOptionChars
const {
  options: OPTION_KEYS,
  suggestions: SUGGESTION_KEYS,
  recorder: RECORDER_KEYS,
  watchdog: WATCHDOG_KEYS,
  heapSnapshot: HEAP_SNAPSHOT_KEYS,
  allocationProfile: ALLOCATION_PROFILE_KEYS,
  pressure: PRESSURE_KEYS,
} = CONTRACT.options.keys
const SUGGESTIONS = CONTRACT.suggestions
const TRIGGERS = CONTRACT.triggers.accepted
const ACCEPTED_TRIGGERS = CONTRACT.triggers.acceptedText
/** The nested option objects, in the order their shape is checked (src/config/ NESTED). */
const NESTED = [
  ['suggestions', SUGGESTION_KEYS],
  ['recorder', RECORDER_KEYS],
  ['watchdog', WATCHDOG_KEYS],
  ['heapSnapshot', HEAP_SNAPSHOT_KEYS],
  ['allocationProfile', ALLOCATION_PROFILE_KEYS],
  ['pressure', PRESSURE_KEYS],
]

const isPlainObject = (v) => typeof v === 'object' && v !== null && !Array.isArray(v)
const given = (v) => v !== undefined && v !== null

function invalidArg(field, expected, got) {
  const e = new Error(`${field}: expected ${expected}, got ${got}`)
  e.code = 'InvalidArg'
  return e
}

/** `typeof`-style names as the native binding words them. */
function typeName(v) {
  if (v === undefined) return 'undefined'
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return { boolean: 'a boolean', number: 'a number', string: 'a string', symbol: 'a symbol', object: 'an object', function: 'a function', bigint: 'a bigint' }[
    typeof v
  ]
}

/** Code points, counted without copying the string (a host's string may be 50 MB). */
function chars(s) {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    n++
  }
  return n
}

/** A short description of a value, as the native binding gives it. */
function describe(v) {
  if (v === undefined) return 'undefined'
  if (v === null) return 'null'
  switch (typeof v) {
    case 'number':
      return numberText(v)
    case 'string':
      return chars(v) <= 40 ? quote(v) : `a string of ${chars(v)} characters`
    case 'boolean':
      return String(v)
    case 'object':
      return Array.isArray(v) ? 'array' : 'object'
    default:
      return typeof v
  }
}

/**
 * A value of the host's dump() input as a warning in the document describes it: like
 * describe(), but a string is never quoted (it may hold anything), only measured; the
 * marker of a getter that threw is ours and is quoted (src/config/raw.rs, describe_input).
 */
function describeInput(v) {
  if (typeof v !== 'string') return describe(v)
  if (v === '<getter threw>') return quote(v)
  const n = chars(v)
  return n === 1 ? 'a string of 1 character' : `a string of ${n} characters`
}

function integer(v, field, min, max, dflt) {
  if (v === undefined || v === null) return dflt
  if (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max) return v
  throw invalidArg(field, `an integer from ${min} to ${max}`, describe(v))
}

function optionalText(v, field, maxChars) {
  if (v === undefined || v === null) return null
  if (typeof v !== 'string') throw invalidArg(field, 'a string', describe(v))
  if (maxChars !== undefined && chars(v) > maxChars) {
    throw invalidArg(field, `a string of at most ${maxChars} characters`, `a string of ${chars(v)} characters`)
  }
  return v
}

function expectObject(v, field) {
  if (typeof v !== 'object' || v === null) throw invalidArg(field, 'an object', typeName(v))
  return v
}

function editDistance(a, b) {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 0; i < a.length; i++) {
    const cur = [i + 1]
    for (let j = 0; j < b.length; j++) cur[j + 1] = Math.min(prev[j] + (a[i] === b[j] ? 0 : 1), prev[j + 1] + 1, cur[j] + 1)
    prev = cur
  }
  return prev[b.length]
}

/** The known name nearest to `key`: a prefix match first, then the edit distance. */
function closest(key, known) {
  const k = [...key.toLowerCase()].slice(0, 64)
  let best = null
  for (const name of known) {
    const c = [...name.toLowerCase()]
    const prefix = Math.min(k.length, c.length) >= 3 && (c.join('').startsWith(k.join('')) || k.join('').startsWith(c.join('')))
    const score = [prefix ? 0 : 1, editDistance(k, c)]
    if (!best || score[0] < best[0][0] || (score[0] === best[0][0] && score[1] < best[0][1])) best = [score, name]
  }
  return best[1]
}

/** Refuses the first unknown key of an options object, naming the closest known one. */
function checkKeys(container, obj, known) {
  const unknown = Object.keys(obj).find((k) => !known.includes(k))
  if (unknown !== undefined) {
    throw invalidArg(
      `${container}.${truncateChars(unknown, 64)[0]}`,
      `one of the known options (did you mean ${container}.${closest(unknown, known)}?)`,
      'an unknown option',
    )
  }
}

/** The first `max` code points of `s`, and whether it was cut; the work is `max`, not `s.length`. */
function truncateChars(s, max) {
  let i = 0
  for (let n = 0; n < max; n++) {
    if (i >= s.length) return [s, false]
    const c = s.charCodeAt(i)
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff
    i += pair ? 2 : 1
  }
  return i >= s.length ? [s, false] : [s.slice(0, i), true]
}

/** `options.allocationProfile`, checked as the native addon checks it (src/config/). */
function allocationProfileOptions(a) {
  if (a === undefined || a === null || a === false) return null
  if (a !== true && !isPlainObject(a)) {
    throw invalidArg('options.allocationProfile', 'true, false or an object { samplingIntervalBytes?, maxSites? }', describe(a))
  }
  const o = a === true ? {} : a
  return {
    samplingIntervalBytes: integer(
      o.samplingIntervalBytes,
      'options.allocationProfile.samplingIntervalBytes',
      LIMITS.minAllocationSamplingIntervalBytes,
      LIMITS.maxAllocationSamplingIntervalBytes,
      DEFAULTS.allocationSamplingIntervalBytes,
    ),
    maxSites: integer(o.maxSites, 'options.allocationProfile.maxSites', 1, LIMITS.maxAllocationSites, DEFAULTS.allocationMaxSites),
  }
}

/** `options.pressure`, checked as the native addon checks it (src/config/): null when off. */
function pressureOptions(p) {
  if (p === false) return null
  if (p !== undefined && p !== null && p !== true && !isPlainObject(p)) {
    throw invalidArg('options.pressure', 'true, false or an object { ratio?, psiFull?, withinMs? }', describe(p))
  }
  const o = isPlainObject(p) ? p : {}
  let ratio = DEFAULTS.pressureRatio
  if (given(o.ratio)) {
    if (!(typeof o.ratio === 'number' && o.ratio >= LIMITS.minPressureRatio && o.ratio <= LIMITS.maxPressureRatio)) {
      throw invalidArg(
        'options.pressure.ratio',
        `a number from ${numberText(LIMITS.minPressureRatio)} to ${numberText(LIMITS.maxPressureRatio)}`,
        describe(o.ratio),
      )
    }
    ratio = o.ratio
  }
  let psiFull = o.psiFull === undefined ? DEFAULTS.pressurePsiFull : null
  if (o.psiFull !== undefined && o.psiFull !== null && o.psiFull !== false) {
    if (!(typeof o.psiFull === 'number' && o.psiFull > 0 && o.psiFull <= 100)) {
      throw invalidArg('options.pressure.psiFull', 'a percentage greater than 0 and at most 100, or false', describe(o.psiFull))
    }
    psiFull = o.psiFull
  }
  const withinMs =
    o.withinMs === undefined
      ? DEFAULTS.pressureWithinMs
      : o.withinMs === null || o.withinMs === false
        ? null
        : integer(o.withinMs, 'options.pressure.withinMs', LIMITS.minPressureWithinMs, LIMITS.maxIntervalMs, 0)
  return { ratio, psiFull, withinMs }
}

/** `options.heapSnapshot`, checked as the native addon checks it (src/config/). */
function heapSnapshotOptions(h) {
  if (!h) return null
  const field = 'options.heapSnapshot.triggers'
  const expected = "a non-empty array of 'hard', 'critical' and 'manual'"
  let triggers = ['critical']
  const t = h.triggers
  if (t !== undefined && t !== null) {
    if (!Array.isArray(t) || t.length > CONTRACT.options.maxListItems) throw invalidArg(field, expected, describe(t))
    if (t.length === 0) throw invalidArg(field, expected, 'an empty array')
    t.forEach((x, i) => {
      if (typeof x !== 'string' || !TRIGGERS.includes(x)) {
        throw invalidArg(`${field}[${i}]`, ACCEPTED_TRIGGERS, describe(typeof x === 'string' ? x.slice(0, 64) : x))
      }
    })
    triggers = [...new Set(t)]
  }
  const maxPerSession = integer(h.maxPerSession, 'options.heapSnapshot.maxPerSession', 1, LIMITS.heapSnapshotsPerSession, 1)
  const maxBytes = integer(h.maxBytes, 'options.heapSnapshot.maxBytes', LIMITS.minHeapSnapshotBytes, LIMITS.safeBytes, DEFAULTS.heapSnapshotMaxBytes)
  if (h.redact !== undefined && h.redact !== null && typeof h.redact !== 'boolean') {
    throw invalidArg('options.heapSnapshot.redact', 'a boolean', describe(h.redact))
  }
  return { triggers, maxPerSession, maxBytes, redact: h.redact !== false }
}

/** The host's options, checked; the first problem throws an `InvalidArg` error. */
function readOptions(options) {
  if (!isPlainObject(options)) throw invalidArg('options', 'an object', typeName(options))
  checkKeys('options', options, OPTION_KEYS)
  const nested = {}
  for (const [key, known] of NESTED) {
    const v = options[key]
    if (!given(v)) nested[key] = null
    else if (isPlainObject(v)) {
      checkKeys(`options.${key}`, v, known)
      nested[key] = v
    } else if (key === 'allocationProfile' || key === 'pressure') nested[key] = null
    else throw invalidArg(`options.${key}`, 'an object', typeName(v))
  }
  const dir = options.directory
  if (typeof dir !== 'string' || !dir.trim() || dir.includes('\0')) {
    throw invalidArg('options.directory', 'a non-empty path string', describe(dir))
  }
  const sessionId = optionalText(options.sessionId, 'options.sessionId') ?? ''
  const maxDumpsPerSession = integer(options.maxDumpsPerSession, 'options.maxDumpsPerSession', 1, LIMITS.maxDumpsPerSession, DEFAULTS.maxDumpsPerSession)
  const cooldownMs = integer(options.cooldownMs, 'options.cooldownMs', 0, LIMITS.cooldownMs, DEFAULTS.cooldownMs)
  const maxFiles = integer(options.maxFiles, 'options.maxFiles', 1, LIMITS.maxFiles, DEFAULTS.maxFiles)
  const appVersion = optionalText(options.appVersion, 'options.appVersion', MAX_TEXT_OPTION_CHARS)
  const s = nested.suggestions ?? {}
  const suggestions = {
    hard: optionalText(s.hard, 'options.suggestions.hard', MAX_TEXT_OPTION_CHARS) ?? SUGGESTIONS.hard,
    critical: optionalText(s.critical, 'options.suggestions.critical', MAX_TEXT_OPTION_CHARS) ?? SUGGESTIONS.critical,
    manual: optionalText(s.manual, 'options.suggestions.manual', MAX_TEXT_OPTION_CHARS),
  }
  const rec = nested.recorder
  const wd = nested.watchdog
  // Asked for by name (`true` or an object), the pressure rule starts the recorder too.
  const pressureAsked = options.pressure === true || isPlainObject(options.pressure)
  // The recorder and watchdog need a thread of their own: the JS fallback checks their
  // options as the native addon does and records their absence in every phase-2 document.
  const nativeOnly = []
  if (wd) {
    const ratio = wd.rssRatio
    if (given(ratio) && !(typeof ratio === 'number' && ratio > 0 && ratio <= 1)) {
      throw invalidArg('options.watchdog.rssRatio', 'a number greater than 0 and at most 1', describe(ratio))
    }
    const bytes = given(wd.rssBytes) ? integer(wd.rssBytes, 'options.watchdog.rssBytes', 1, LIMITS.safeBytes, 0) : null
    if (!given(ratio) && bytes === null) throw invalidArg('options.watchdog', 'rssRatio or rssBytes', 'neither')
    integer(wd.stallMs, 'options.watchdog.stallMs', LIMITS.minIntervalMs, LIMITS.maxIntervalMs, DEFAULTS.watchdogStallMs)
    if (given(wd.captureStack) && typeof wd.captureStack !== 'boolean') {
      throw invalidArg('options.watchdog.captureStack', 'a boolean', describe(wd.captureStack))
    }
    nativeOnly.push('watchdog')
  }
  if (rec || wd || pressureAsked) {
    integer(rec?.intervalMs, 'options.recorder.intervalMs', LIMITS.minIntervalMs, LIMITS.maxIntervalMs, DEFAULTS.recorderIntervalMs)
    integer(rec?.samples, 'options.recorder.samples', 1, LIMITS.maxSamples, DEFAULTS.recorderSamples)
    nativeOnly.unshift('recorder')
  }
  const maxRssBytes = integer(options.smapsRollupMaxRssBytes, 'options.smapsRollupMaxRssBytes', 0, LIMITS.safeBytes, DEFAULTS.smapsRollupMaxRssBytes)
  const mode = options.smapsRollup ?? 'auto'
  if (!['auto', 'always', 'never'].includes(mode)) throw invalidArg('options.smapsRollup', "'auto', 'always' or 'never'", describe(mode))
  const now = options.now
  if (given(now) && typeof now !== 'function') {
    throw invalidArg('options.now', 'a function returning milliseconds, such as () => Date.now()', describe(now))
  }
  const mallinfo = options.mallinfo ?? 'auto'
  if (!['auto', 'always', 'never'].includes(mallinfo)) throw invalidArg('options.mallinfo', "'auto', 'always' or 'never'", describe(mallinfo))
  const heapSnapshot = heapSnapshotOptions(nested.heapSnapshot)
  const allocationProfile = allocationProfileOptions(options.allocationProfile)
  // Checked whether or not the recorder runs: a bad value is an error either way. Its
  // absence is recorded where it was asked for by name (the recorder's covers the rest).
  if (pressureOptions(options.pressure) !== null && pressureAsked) nativeOnly.push('pressure')
  return {
    directory: dir,
    sessionId,
    maxDumpsPerSession,
    cooldownMs,
    maxFiles,
    appVersion,
    suggestions,
    nativeOnly,
    smapsRollup: { mode, maxRssBytes },
    mallinfo,
    now: now ?? null,
    heapSnapshot,
    allocationProfile,
  }
}

module.exports = {
  invalidArg,
  typeName,
  chars,
  describe,
  integer,
  optionalText,
  expectObject,
  closest,
  checkKeys,
  shortSessionId,
  truncateChars,
  describeInput,
  readOptions,
}
