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

module.exports = { makeWriter }
