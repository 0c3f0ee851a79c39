// A host for the bundle tests: records where it runs (its working directory, a workspace
// under HOME, the user and host names) in its dumps' session fields, as hosts do, then dies
// as told: `v8` (heap OOM, dumps at 60% and 80% of the old space), `kernel` (grows Buffers
// in a memory cgroup of argv[4] bytes, dumps at 50% and 75%), or `clean` (one dump, close).
import { createRequire } from 'node:module'
import os from 'node:os'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const [directory, mode, limitArg] = process.argv.slice(2)
const session = {
  cwd: process.cwd(),
  workspace: `${process.env.HOME}/project`,
  user: process.env.USER ?? '',
  host: os.hostname(),
  hostEnv: process.env.HOSTNAME ?? '',
}
const dumper = new MemoryDiagnosticsDumper({ directory, sessionId: `bundle-${mode}`, cooldownMs: 0, recorder: { intervalMs: 100, samples: 60 } })
const dump = (level) => dumper.dump(level, { session })

if (mode === 'clean') {
  await dump('manual')
  dumper.close()
} else if (mode === 'v8') {
  const oldSpace = Number(process.execArgv.map((a) => /^--max-old-space-size=(\d+)$/.exec(a)).find(Boolean)[1]) * 2 ** 20
  const fired = new Set()
  const held = []
  const grow = () => {
    const h = v8.getHeapStatistics()
    dumper.observe(h, process.memoryUsage())
    for (const [level, at] of [
      ['hard', 0.6],
      ['critical', 0.8],
    ])
      if (h.used_heap_size >= at * oldSpace && !fired.has(level)) {
        fired.add(level)
        void dump(level)
      }
    const chunk = []
    for (let i = 0; i < 4000; i++) chunk.push({ i, text: `entry ${i} `.repeat(2) })
    held.push(chunk)
    setTimeout(grow, fired.size ? 5 : 1)
  }
  grow()
} else {
  const limit = Number(limitArg)
  const fired = new Set()
  const held = []
  const grow = () => {
    held.push(Buffer.alloc(2 << 20, 7))
    dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
    const rss = process.memoryUsage().rss
    for (const [level, at] of [
      ['hard', 0.5],
      ['critical', 0.75],
    ])
      if (rss >= at * limit && !fired.has(level)) {
        fired.add(level)
        void dump(level)
      }
    setTimeout(grow, 10)
  }
  grow()
}
