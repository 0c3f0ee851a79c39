// Heap shapes whose snapshot costs differ the most per byte of heap (docs/heap-snapshots.md):
// each entry maker returns one retained value. Shared by bench/snapshot-peak-child.mjs and
// the snapshot-guard tests (__test__/children/snapshot-shape.mjs).
export const SHAPES = {
  // Many small objects with small-integer fields: one node and a few edges per 16-20 bytes.
  objects: (i) => ({ a: i, b: i + 1 }),
  // Short unique strings: one node and one copied name per 16-20 bytes.
  strings: (i) => `s${i}`,
  // Closures over a counter: a JSFunction plus a context per entry.
  closures: (i) => () => i,
  // Boxed doubles in objects: two nodes per entry.
  doubles: (i) => ({ x: i + 0.5 }),
  // A realistic mix: records with strings, arrays and nested objects, as parsed JSON.
  mix: (i) => ({
    id: i,
    name: `user-${i}`,
    tags: ['a', 'b', `t${i % 100}`],
    meta: { score: i * 1.5, active: i % 2 === 0 },
    text: 'lorem ipsum dolor sit amet '.repeat(1 + (i % 8)) + i,
  }),
}

/** Grows `keep` with entries of `shape` until the heap used after a GC has grown by `bytes`. */
export function grow(keep, shape, bytes, usedAfterGc) {
  const make = SHAPES[shape]
  if (!make) throw new Error(`unknown shape ${shape}`)
  const base = usedAfterGc()
  for (let i = 0; ; i++) {
    keep.push(make(i))
    // A GC per check: every 2,000 entries at first, then every 20,000 (0.3-4 MiB of these
    // shapes), keeps small targets close and large ones quick.
    if (i % (i < 20000 ? 2000 : 20000) === 0 && usedAfterGc() - base >= bytes) return
  }
}
