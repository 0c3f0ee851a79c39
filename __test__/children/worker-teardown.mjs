// Workers that end with dumps' phase 2 in flight (terminated, or calling process.exit()),
// or that never call close() and simply run out of work. argv: <dir> <rounds>.
// Prints one JSON line: open descriptors, threads and RSS before and after, how every
// worker ended, and the dump files left behind.
import fs from 'node:fs'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

const [dir, rounds] = [process.argv[2], Number(process.argv[3])]
const entry = new URL('../../index.js', import.meta.url).pathname
const code = `
  const { parentPort, workerData } = require('node:worker_threads')
  const v8 = require('node:v8')
  const { MemoryDiagnosticsDumper } = require(workerData.entry)
  const d = new MemoryDiagnosticsDumper({ directory: workerData.dir, maxDumpsPerSession: 100, cooldownMs: 0, maxFiles: 100000, recorder: { intervalMs: 10 } })
  const input = { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() }
  d.observe(input.heapStatistics, input.memoryUsage)
  for (let i = 0; i < 5; i++) void d.dump('hard', input) // phase 2 of each still in flight
  parentPort.postMessage('dumped')
  if (workerData.mode === 'exit') process.exit(0)
  // 'natural': no close(), nothing awaited; the worker must still end once its loop is empty.`
const fds = () => fs.readdirSync('/proc/self/fd').length
const threads = () => Number(/Threads:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1])

async function round(r) {
  const modes = ['terminate', 'exit', 'natural']
  return Promise.all(
    modes.map(
      (mode) =>
        new Promise((resolve, reject) => {
          const w = new Worker(code, { eval: true, workerData: { entry, dir: path.join(dir, `${r}-${mode}`), mode } })
          const timer = setTimeout(() => reject(new Error(`worker ${r}-${mode} did not end within 20 s`)), 20_000)
          w.once('message', () => {
            if (mode === 'terminate') void w.terminate()
          })
          w.once('error', reject)
          w.once('exit', (exitCode) => {
            clearTimeout(timer)
            resolve({ mode, exitCode })
          })
        }),
    ),
  )
}

const settle = () => new Promise((r) => setTimeout(r, 200))
// Warm-up: the process-wide phase-2 thread starts once; allocators settle.
for (let r = 0; r < 3; r++) await round(`warm${r}`)
await settle()
globalThis.gc?.()
const before = { fds: fds(), threads: threads(), rss: process.memoryUsage().rss }
const ends = []
for (let r = 0; r < rounds; r++) ends.push(...(await round(r)))
await settle()
globalThis.gc?.()
const after = { fds: fds(), threads: threads(), rss: process.memoryUsage().rss }
let files = 0
let unreadable = 0
for (const sub of fs.readdirSync(dir)) {
  for (const f of fs.readdirSync(path.join(dir, sub)).filter((f) => f.startsWith('memory-'))) {
    files++
    try {
      JSON.parse(fs.readFileSync(path.join(dir, sub, f), 'utf8'))
    } catch {
      unreadable++
    }
  }
}
process.stdout.write(JSON.stringify({ before, after, ends, files, unreadable }) + '\n')
