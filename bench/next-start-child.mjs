// One fresh process of the next-start bench: require() of the package, then previousRun() on
// argv[2], timed, with the V8 heap it allocated and the heap that stays after a full GC.
// Run with a large young generation and --expose-gc: a full GC before the call finishes any sweeping left from start-up (which
// would otherwise shrink the used heap during the call), and a GC observed during the call
// marks the heap figure as unmeasured (`gc: true`), since it hides what was allocated.
// Prints one JSON line.
import { createRequire } from 'node:module'
import { PerformanceObserver } from 'node:perf_hooks'
import v8 from 'node:v8'

const require = createRequire(import.meta.url)
const { previousRun } = require('../index.js')
let gcs = 0
const observer = new PerformanceObserver((list) => {
  gcs += list.getEntries().length
})
observer.observe({ entryTypes: ['gc'] })
globalThis.gc?.()
// Its GC entry arrives asynchronously: let it arrive before counting.
await new Promise((resolve) => setTimeout(resolve, 20))
const before = gcs
const h0 = v8.getHeapStatistics().used_heap_size
const t0 = process.hrtime.bigint()
const r = previousRun({ directory: process.argv[2] })
const t1 = process.hrtime.bigint()
const h1 = v8.getHeapStatistics().used_heap_size
// GC entries are delivered asynchronously: let them arrive before deciding.
await new Promise((resolve) => setTimeout(resolve, 20))
observer.disconnect()
const gc = gcs !== before
// What stays: the heap after a full GC, with the answer still held (and the modules loaded).
globalThis.gc?.()
const retainedBytes = v8.getHeapStatistics().used_heap_size - h0
console.log(JSON.stringify({ ms: Number(t1 - t0) / 1e6, heapBytes: gc ? null : h1 - h0, retainedBytes, gc, outcome: r?.outcome ?? null }))
