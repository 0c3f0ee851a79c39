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

module.exports = { makeInputWriter, makeWriter }
