'use strict'
// Twin of src/dump/input.rs.
// The dump() input rules (bounds from contract.json, warnings
// worded alike). The golden phase-1 cases (tests/fixtures/golden/input.json) run both.

const CONTRACT = require('../contract.json')
const { describeInput: describe, expectObject, invalidArg, truncateChars, typeName } = require('./config')

const { maxHeapSpaces: MAX_HEAP_SPACES, maxSpaceNameChars: MAX_SPACE_NAME_CHARS, maxSessionKeys: MAX_SESSION_KEYS } = CONTRACT.input
const { maxSessionKeyChars: MAX_SESSION_KEY_CHARS, maxSessionStringChars: MAX_SESSION_STRING_CHARS } = CONTRACT.input
const { maxSamples: MAX_SAMPLES, maxSampleKeys: MAX_SAMPLE_KEYS, maxNameChars: MAX_NAME_CHARS, maxResourceTypes: MAX_RESOURCE_TYPES } = CONTRACT.input
const { heapStatFields: HEAP_STAT_FIELDS, memoryUsageFields: MEMORY_USAGE_FIELDS, heapSpaceFields: HEAP_SPACE_FIELDS } = CONTRACT.input

function numberMap(warnings, container, fields, obj) {
  const out = {}
  for (const [js, key, required] of fields) {
    const v = obj[js]
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) out[key] = v
    else {
      out[key] = null
      if (v !== undefined || required) {
        warnings.push(`${container}.${js}: expected a non-negative finite number, got ${describe(v)}; recorded as null`)
      }
    }
  }
  return out
}

function readInput(input) {
  expectObject(input, 'input')
  const warnings = []
  const heap = expectObject(input.heapStatistics, 'input.heapStatistics')
  const usage = expectObject(input.memoryUsage, 'input.memoryUsage')
  const v8HeapStats = numberMap(warnings, 'heapStatistics', HEAP_STAT_FIELDS, heap)
  const memoryUsage = numberMap(warnings, 'memoryUsage', MEMORY_USAGE_FIELDS, usage)
  let v8HeapSpaces = null
  const spaces = input.heapSpaces
  if (spaces !== undefined && spaces !== null) {
    if (!Array.isArray(spaces)) {
      throw invalidArg('input.heapSpaces', 'an array (v8.getHeapSpaceStatistics()) or undefined', typeName(spaces))
    }
    if (spaces.length > MAX_HEAP_SPACES) warnings.push(`heapSpaces: ${spaces.length} entries given, kept the first ${MAX_HEAP_SPACES}`)
    v8HeapSpaces = []
    spaces.slice(0, MAX_HEAP_SPACES).forEach((s, i) => {
      if (typeof s !== 'object' || s === null) {
        warnings.push(`heapSpaces[${i}]: expected an object, got ${typeName(s)}; skipped`)
        return
      }
      let name = null
      if (typeof s.space_name === 'string') name = truncateChars(s.space_name.toWellFormed(), MAX_SPACE_NAME_CHARS)[0] || null
      else warnings.push(`heapSpaces[${i}].space_name: expected a string, got ${describe(s.space_name)}; recorded as null`)
      v8HeapSpaces.push({ spaceName: name, ...numberMap(warnings, `heapSpaces[${i}]`, HEAP_SPACE_FIELDS, s) })
    })
  }
  // Own keys only, `__proto__` included (it is data here, never a prototype).
  const session = Object.create(null)
  const sv = input.session
  if (sv !== undefined && sv !== null) {
    if (typeof sv !== 'object' || Array.isArray(sv)) {
      throw invalidArg('input.session', 'a flat object of numbers, strings and booleans, or undefined', typeName(sv))
    }
    const keys = Object.keys(sv)
    if (keys.length > MAX_SESSION_KEYS) warnings.push(`session: ${keys.length} keys given, kept the first ${MAX_SESSION_KEYS}`)
    for (const key of keys.slice(0, MAX_SESSION_KEYS)) {
      // As the native addon reads text: a lone surrogate becomes U+FFFD.
      const [k, keyCut] = truncateChars(key.toWellFormed(), MAX_SESSION_KEY_CHARS)
      if (keyCut) warnings.push(`session: a key longer than ${MAX_SESSION_KEY_CHARS} characters was cut to its first ${MAX_SESSION_KEY_CHARS}`)
      if (Object.hasOwn(session, k)) {
        warnings.push(`session.${k}: the key repeats an earlier one once cut to ${MAX_SESSION_KEY_CHARS} characters; dropped`)
        continue
      }
      const v = sv[key]
      if (typeof v === 'number') {
        if (Number.isFinite(v)) session[k] = v
        else warnings.push(`session.${k}: expected a finite number, got a non-finite one; dropped`)
      } else if (typeof v === 'boolean') session[k] = v
      else if (typeof v === 'string') {
        const [t, cut] = truncateChars(v.toWellFormed(), MAX_SESSION_STRING_CHARS)
        if (cut) warnings.push(`session.${k}: string truncated to ${MAX_SESSION_STRING_CHARS} characters`)
        session[k] = t
      } else if (v !== undefined) {
        warnings.push(`session.${k}: expected a number, string or boolean, got ${describe(v)}; dropped`)
      }
    }
  }
  const atTrigger = { memoryUsage, v8HeapStats, v8HeapSpaces }
  const ar = input.activeResources
  if (ar !== undefined && ar !== null) {
    if (typeof ar !== 'object' || Array.isArray(ar)) {
      throw invalidArg('input.activeResources', 'a flat object of counts by resource type, or undefined', typeName(ar))
    }
    atTrigger.activeResources = flatNumbers(warnings, 'activeResources', ar, MAX_RESOURCE_TYPES, true)
  }
  let samples
  const sm = input.samples
  if (sm !== undefined && sm !== null) {
    if (!Array.isArray(sm)) {
      throw invalidArg('input.samples', `an array of at most ${MAX_SAMPLES} flat objects of numbers, or undefined`, typeName(sm))
    }
    const first = Math.max(0, sm.length - MAX_SAMPLES)
    if (first > 0) warnings.push(`samples: ${sm.length} samples given, kept the last ${MAX_SAMPLES}`)
    samples = []
    for (let i = first; i < sm.length; i++) {
      const o = sm[i]
      if (typeof o !== 'object' || o === null || Array.isArray(o)) {
        warnings.push(`samples[${i}]: expected a flat object of numbers, got ${typeName(o)}; skipped`)
        continue
      }
      samples.push(flatNumbers(warnings, `samples[${i}]`, o, MAX_SAMPLE_KEYS, false))
    }
  }
  return { atTrigger, session, warnings, samples }
}

/** A flat `name -> number` object, at most `maxKeys` entries (the first ones kept). */
function flatNumbers(warnings, container, obj, maxKeys, counts) {
  const keys = Object.keys(obj)
  if (keys.length > maxKeys) warnings.push(`${container}: ${keys.length} keys given, kept the first ${maxKeys}`)
  const out = {}
  for (const key of keys.slice(0, maxKeys)) {
    const name = truncateChars(key, MAX_NAME_CHARS)[0]
    const v = obj[key]
    if (typeof v === 'number' && Number.isFinite(v) && (!counts || v >= 0)) out[name] = v
    else if (v !== undefined) {
      warnings.push(`${container}.${name}: expected ${counts ? 'a non-negative finite number' : 'a finite number'}, got ${describe(v)}; dropped`)
    }
  }
  return out
}

module.exports = { readInput }
