// One measurement of V8's heap-snapshot peak: builds a heap of one shape, then has V8
// write a snapshot and reports the peak resident set size it cost (Linux: VmHWM, reset
// through /proc/self/clear_refs just before). Run with --expose-gc:
//   node --expose-gc bench/snapshot-peak-child.mjs <shape> <MiB>
// Prints one JSON line. Used by bench/snapshot-peak.mjs; no addon involved.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import v8 from 'node:v8'
import { grow } from './snapshot-shapes.mjs'

const [shape, mibArg] = process.argv.slice(2)
const target = Number(mibArg) * 2 ** 20
const used = () => {
  globalThis.gc()
  return v8.getHeapStatistics().used_heap_size
}
const status = (key) => {
  const m = readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'))
  return m ? Number(m[1]) * 1024 : null
}

const keep = []
grow(keep, shape, target, used)
const usedHeap = used()
const rssBefore = status('VmRSS')
writeFileSync('/proc/self/clear_refs', '5')
const dir = mkdtempSync(join(tmpdir(), 'mdd-peak-'))
const file = join(dir, 'x.heapsnapshot')
const t0 = performance.now()
v8.writeHeapSnapshot(file)
const millis = performance.now() - t0
const peak = status('VmHWM')
rmSync(dir, { recursive: true, force: true })
console.log(
  JSON.stringify({
    node: process.versions.node,
    shape,
    entries: keep.length,
    usedHeap,
    rssBefore,
    peak,
    extra: peak - rssBefore,
    ratio: (peak - rssBefore) / usedHeap,
    millis: Math.round(millis),
  }),
)
