// V8's heap-snapshot peak by heap shape, size and Node version: the measurements the
// snapshot guard's estimate is derived from (docs/heap-snapshots.md, src/heap_snapshot/decide.rs),
// each beside that estimate, 50 x (usedHeapSize - 4 MiB) + 64 MiB.
//   node bench/snapshot-peak.mjs [--nodes 20,22,24,26] [--sizes 0,8,24] [--shapes objects,strings,...]
// Each point is a fresh process (bench/snapshot-peak-child.mjs) that builds the heap and
// has V8 write a snapshot; it reports the peak resident set size the snapshot added
// (VmHWM reset just before) over `usedHeapSize`. Linux only (VmHWM, clear_refs).
import { execFileSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fetchNode, Skip } from '../scripts/platform-node.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name)
  return (i > 0 ? process.argv[i + 1] : dflt).split(',')
}
const nodes = arg('--nodes', '20,22,24,26')
const sizes = arg('--sizes', '0,8,24').map(Number)
const shapes = arg('--shapes', 'objects,strings,closures,doubles,mix')
const MiB = 2 ** 20
const rows = []
for (const major of nodes) {
  let bin = process.execPath
  if (process.versions.node.split('.')[0] !== major) {
    try {
      bin = fetchNode(`node-${process.platform}-${process.arch}`, major).bin
    } catch (e) {
      if (!(e instanceof Skip)) throw e
      console.log(`Node ${major}: skipped: ${e.message}`)
      continue
    }
  }
  for (const shape of shapes) {
    for (const size of sizes) {
      const out = execFileSync(bin, ['--expose-gc', join(here, 'snapshot-peak-child.mjs'), shape, String(size)], { encoding: 'utf8', maxBuffer: 1 << 20 })
      const r = JSON.parse(out.trim().split('\n').pop())
      rows.push({ major, ...r })
      const estimate = Math.max(0, r.usedHeap - 4 * MiB) * 50 + 64 * MiB
      console.log(
        `Node ${r.node.padEnd(8)} ${shape.padEnd(9)} heap ${(r.usedHeap / MiB).toFixed(1).padStart(6)} MiB  rss ${(r.rssBefore / MiB).toFixed(0).padStart(4)} MiB  snapshot peak +${(r.extra / MiB).toFixed(0).padStart(5)} MiB  ${r.ratio.toFixed(1).padStart(5)}x heap  ${String(r.millis).padStart(5)} ms  guard's estimate ${(estimate / MiB).toFixed(0).padStart(5)} MiB (${estimate >= r.extra ? 'covers it' : 'SHORT'}, ${(estimate / r.extra).toFixed(1)}x)`,
      )
    }
  }
}
// Per version and shape: the slope (extra MiB per heap MiB) between the smallest and the
// largest heap, and the intercept at the smallest.
console.log('\nslope (extra bytes per byte of usedHeapSize between the smallest and largest heap) and fixed part:')
for (const major of nodes) {
  for (const shape of shapes) {
    const pts = rows.filter((r) => r.major === major && r.shape === shape).sort((a, b) => a.usedHeap - b.usedHeap)
    if (pts.length < 2) continue
    const [lo, hi] = [pts[0], pts[pts.length - 1]]
    const slope = (hi.extra - lo.extra) / (hi.usedHeap - lo.usedHeap)
    const fixed = lo.extra - slope * lo.usedHeap
    console.log(
      `Node ${major} ${shape.padEnd(9)} slope ${slope.toFixed(1).padStart(5)}  fixed ${(fixed / MiB).toFixed(0).padStart(5)} MiB  worst ratio ${Math.max(...pts.map((p) => p.ratio)).toFixed(1)}x`,
    )
  }
}
if (process.argv.includes('--json')) console.log(JSON.stringify(rows))
