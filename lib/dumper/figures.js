'use strict'
// The layout of the block the native `observe()` shares with JS (a Float64Array the addon
// lends): element `generationSlot` (0) is a generation, elements 1.. the figures named
// by contract.json's `observedFigures.slots` (emitted by `cargo test` from the crate),
// in order. The writer is generated from that list, never written by hand, so that each
// figure is one plain property read (fast in V8) and lands in the slot the addon reads
// it from.

const KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/

/**
 * A function `(f, h, u)` that writes the figures of `h` (heapStatistics) and `u`
 * (memoryUsage) into `f` as a seqlock writer: every figure is read first (a throwing
 * getter leaves the block untouched), then the generation `f[0]` is made odd, the
 * figures are stored, and it is made even again. A value that is not a number is
 * stored as NaN (missing).
 */
function makeWriter(layout) {
  const keys = layout.slots
  if (layout.generationSlot !== 0) throw new Error('contract.json: observedFigures.generationSlot must be 0')
  const reads = []
  const stores = []
  keys.forEach((path, i) => {
    const [container, key, extra] = path.split('.')
    if ((container !== 'heapStatistics' && container !== 'memoryUsage') || extra !== undefined)
      throw new Error(`contract.json: observed figure ${JSON.stringify(path)} is not heapStatistics.<key> or memoryUsage.<key>`)
    if (!KEY.test(key)) throw new Error(`contract.json: input field ${JSON.stringify(key)} is not a plain identifier`)
    reads.push(`const v${i} = ${container === 'heapStatistics' ? 'h' : 'u'}.${key}`)
    stores.push(`f[${i + 1}] = typeof v${i} === 'number' ? v${i} : NaN`)
  })
  // eslint-disable-next-line no-new-func
  return new Function('f', 'h', 'u', [...reads, 'f[0] += 1', ...stores, 'f[0] += 1'].join('\n'))
}

/**
 * A function `(f, h, u)` for `dump()`'s figures (contract.json's `dumpInput`): writes the
 * figures of `h` (heapStatistics) and `u` (memoryUsage) into `f`, element `maskSlot` (0)
 * the mask of the fields that are undefined (bit i: slot i + 1), and returns true; or
 * returns false, having written nothing the addon will read, when a figure is neither a
 * number nor undefined (the caller then takes the checked path, which names the field).
 */
function makeInputWriter(layout) {
  if (layout.maskSlot !== 0) throw new Error('contract.json: dumpInput.maskSlot must be 0')
  if (layout.slots.length > 52) throw new Error('contract.json: dumpInput has more slots than one mask can name')
  const body = ['let m = 0', 'let v']
  layout.slots.forEach((path, i) => {
    const [container, key, extra] = path.split('.')
    if ((container !== 'heapStatistics' && container !== 'memoryUsage') || extra !== undefined)
      throw new Error(`contract.json: dump input ${JSON.stringify(path)} is not heapStatistics.<key> or memoryUsage.<key>`)
    if (!KEY.test(key)) throw new Error(`contract.json: input field ${JSON.stringify(key)} is not a plain identifier`)
    body.push(
      `v = ${container === 'heapStatistics' ? 'h' : 'u'}.${key}`,
      `if (typeof v === 'number') f[${i + 1}] = v`,
      `else if (v === undefined) m += ${2 ** i}`,
      'else return false',
    )
  })
  body.push('f[0] = m', 'return true')
  // eslint-disable-next-line no-new-func
  return new Function('f', 'h', 'u', body.join('\n'))
}

/**
 * A function `(f, spaces, names)` for `dump()`'s heap spaces (contract.json's `dumpInput`):
 * writes each space's figures into `f` after `spaceCountSlot` (which gets their count) and
 * its name into `names`, and returns true; or returns false when `spaces` is not an array of
 * at most `maxSpaces` objects with a string `space_name` and number figures (the caller then
 * passes the array itself, and the checked path names what is wrong).
 */
function makeSpacesWriter(layout) {
  const { spaceCountSlot: at, spaceFields: fields, maxSpaces } = layout
  if (!Number.isInteger(at) || at !== layout.slots.length + 1) throw new Error('contract.json: dumpInput.spaceCountSlot must follow the figures')
  const body = [
    `if (!Array.isArray(spaces) || spaces.length > ${maxSpaces}) return false`,
    'const n = spaces.length',
    'for (let i = 0; i < n; i++) {',
    '  const s = spaces[i]',
    "  if (s === null || typeof s !== 'object') return false",
    '  const name = s.space_name',
    "  if (typeof name !== 'string') return false",
    '  names[i] = name',
    `  const o = ${at + 1} + i * ${fields.length}`,
    '  let v',
  ]
  fields.forEach((key, j) => {
    if (!KEY.test(key)) throw new Error(`contract.json: heap-space field ${JSON.stringify(key)} is not a plain identifier`)
    body.push(`  v = s.${key}`, "  if (typeof v !== 'number') return false", `  f[o + ${j}] = v`)
  })
  body.push('}', 'names.length = n', `f[${at}] = n`, 'return true')
  // eslint-disable-next-line no-new-func
  return new Function('f', 'spaces', 'names', body.join('\n'))
}

module.exports = { makeInputWriter, makeSpacesWriter, makeWriter }
