// A real Node program that leaks one kind of memory and nothing else, for the growth
// verdict: it dumps once, leaks `mib` MiB in eight steps (calling observe() after each, so
// the recorder's samples carry the V8 figures), then dumps again, closes and prints the
// two results as JSON. argv: dir, kind, mib.
//   heap     JS objects kept in an array (V8 heap)
//   buffers  Buffers kept in an array, filled (ArrayBuffers, external memory)
//   native   zlib deflate streams kept open (zlib's state is malloc'd by Node, outside the
//            JS heap and the ArrayBuffers)
//   untouched zlib deflate streams opened and barely used: their state is malloc'd (much of
//            it in chunks of their own mmap) but most pages are never touched
//   idle     the same timeline, allocating and dropping garbage: the negative control

import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import v8 from 'node:v8'
import zlib from 'node:zlib'

const { MemoryDiagnosticsDumper, implementation } = createRequire(import.meta.url)('../../index.js')

const [dir, kind, mibArg] = process.argv.slice(2)
const total = Number(mibArg) * 2 ** 20
const STEPS = 8
const figures = () => ({ heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage(), heapSpaces: v8.getHeapSpaceStatistics() })
const dumper = new MemoryDiagnosticsDumper({
  directory: dir,
  sessionId: `leak${kind}`,
  cooldownMs: 0,
  maxDumpsPerSession: 10,
  recorder: { intervalMs: 100, samples: 200 },
})
const tick = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const held = []
// biome-ignore lint/correctness/noUnusedVariables: written to allocate and drop, never read
let garbage = null
/**
 * zlib's state (about 260 KiB a stream at level 9, memLevel 9: window, hash chains,
 * pending buffer) is malloc'd at init; 128 KiB of random input touches nearly all of it.
 */
const INPUT = randomBytes(128 * 1024)
async function deflater() {
  const d = zlib.createDeflate({ level: 9, memLevel: 9, windowBits: 15 })
  d.on('data', () => {})
  d.write(INPUT)
  await new Promise((resolve) => d.flush(resolve))
  return d
}
const ZLIB_STREAM_BYTES = 384 * 1024

async function leak(bytes) {
  switch (kind) {
    case 'heap':
      // Plain objects: only the JS heap grows (about 40 bytes each with their array slot).
      for (let n = 0; n < bytes / 40; n++) held.push({ id: n, seen: n & 1 })
      break
    case 'buffers':
      for (let b = 0; b < bytes; b += 1 << 20) held.push(Buffer.alloc(1 << 20, 1 + (held.length % 250)))
      break
    case 'native':
      for (let b = 0; b < bytes; b += ZLIB_STREAM_BYTES) held.push(await deflater())
      break
    case 'untouched':
      for (let b = 0; b < bytes; b += ZLIB_STREAM_BYTES) {
        const d = zlib.createDeflate({ level: 9, memLevel: 9, windowBits: 15 })
        d.on('data', () => {})
        d.write(INPUT.subarray(0, 16))
        await new Promise((resolve) => d.flush(resolve))
        held.push(d)
      }
      break
    case 'idle':
      // The same work, dropped: garbage of every kind, nothing kept.
      garbage = Array.from({ length: 20_000 }, (_, n) => ({ n }))
      garbage = Buffer.alloc(1 << 20, 1)
      garbage = null
      break
    default:
      throw new Error(`unknown kind ${kind}`)
  }
}

await tick(300)
dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
const first = await dumper.dump('manual', figures())
for (let i = 0; i < STEPS; i++) {
  await leak(total / STEPS)
  dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
  await tick(120)
}
dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
await tick(150)
const second = await dumper.dump('manual', figures())
dumper.close()
process.stdout.write(JSON.stringify({ implementation, kind, held: held.length, first, second }) + '\n')
