// The heap-snapshot guard under a memory limit: builds a heap of one shape (bench/
// snapshot-shapes.mjs) grown by `MiB`, then dumps with a heap snapshot and prints the
// result as one JSON line. With `workers` = 2, two worker threads each build the heap and
// dump at the same instant (a barrier), to check that snapshots in flight reserve memory;
// `MiB` written `=8.5` is the heap used to reach rather than the growth (worker heaps
// start at different sizes on different Node versions).
// argv: dir, shape, MiB, workers (0: the main thread itself)
import { createRequire } from 'node:module'
import v8 from 'node:v8'
import vm from 'node:vm'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { grow } from '../../bench/snapshot-shapes.mjs'

const require = createRequire(import.meta.url)
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')
const usedAfterGc = () => {
  gc()
  return v8.getHeapStatistics().used_heap_size
}

async function build(dir, shape, mib, tag, barrier) {
  const { MemoryDiagnosticsDumper } = require('../../index.js')
  globalThis.keep = []
  const bytes = typeof mib === 'string' && mib.startsWith('=') ? Number(mib.slice(1)) * 2 ** 20 - usedAfterGc() : Number(mib) * 2 ** 20
  grow(globalThis.keep, shape, bytes, usedAfterGc)
  const dumper = new MemoryDiagnosticsDumper({ directory: dir, sessionId: `shape${tag}`, heapSnapshot: { triggers: ['critical'] } })
  if (barrier) {
    Atomics.add(barrier, 0, 1)
    Atomics.notify(barrier, 0)
    while (Atomics.load(barrier, 0) < 2) Atomics.wait(barrier, 0, Atomics.load(barrier, 0), 50)
  }
  const r = await dumper.dump('critical', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
  return { tag, usedHeap: v8.getHeapStatistics().used_heap_size, heapSnapshot: r.heapSnapshot, filePath: r.filePath }
}

if (isMainThread) {
  const [dir, shape, mib, workers] = process.argv.slice(2)
  if (Number(workers) > 0) {
    const barrier = new Int32Array(new SharedArrayBuffer(4))
    const results = await Promise.all(
      Array.from({ length: Number(workers) }, (_, i) => {
        const w = new Worker(new URL(import.meta.url), { workerData: { dir, shape, mib, tag: String(i), barrier } })
        return new Promise((resolve, reject) => {
          w.once('message', resolve)
          w.once('error', reject)
        })
      }),
    )
    for (const r of results) console.log(JSON.stringify(r))
  } else {
    console.log(JSON.stringify(await build(dir, shape, mib, 'm', null)))
  }
  console.log(JSON.stringify({ alive: true }))
} else {
  const { dir, shape, mib, tag, barrier } = workerData
  parentPort.postMessage(await build(dir, shape, mib, tag, barrier))
}
