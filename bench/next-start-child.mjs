// One fresh process of the next-start bench: require() of the package, then previousRun() on
// argv[2], timed, with the V8 heap it allocated (run with a large young generation, so that
// no scavenge hides it). Prints one JSON line.
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const require = createRequire(import.meta.url)
const { previousRun } = require('../index.js')
const h0 = v8.getHeapStatistics().used_heap_size
const t0 = process.hrtime.bigint()
const r = previousRun({ directory: process.argv[2] })
const t1 = process.hrtime.bigint()
const h1 = v8.getHeapStatistics().used_heap_size
console.log(JSON.stringify({ ms: Number(t1 - t0) / 1e6, heapBytes: h1 - h0, outcome: r?.outcome ?? null }))
