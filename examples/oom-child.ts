// Run by the test suite as `node --max-old-space-size=96 oom-child.mjs <dir>`: the
// monitor from monitor.ts watches a process that leaks until V8 gives up. At each
// cleanup it prints what is already on disk, which proves the phase-1 file is complete
// before the host's cleanup line runs, and then the process dies of a real V8 OOM.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import v8 from 'node:v8'
import { MemoryPressureMonitor } from './monitor.js'

const directory = process.argv[2]
if (!directory) throw new Error('usage: oom-child <directory>')

// V8 gives up when the old space (96 MiB here) is full; heap_size_limit adds a young
// generation whose size differs between Node versions. Hard at 60%, critical at 80% of
// the old space, as ratios of heap_size_limit.
const oldSpace = 96 * 2 ** 20
const limit = v8.getHeapStatistics().heap_size_limit
const monitor = new MemoryPressureMonitor({
  directory,
  heapRatio: { hard: (0.6 * oldSpace) / limit, critical: (0.8 * oldSpace) / limit },
  dumper: { sessionId: 'oom-child', cooldownMs: 0 },
  cleanup: (level) => {
    const files = readdirSync(directory)
      .filter((f) => f.startsWith('memory-') && f.endsWith('.json'))
      .sort()
    const docs = files.map((f) => JSON.parse(readFileSync(join(directory, f), 'utf8')) as { trigger: string })
    console.log(JSON.stringify({ cleanup: level, onDisk: docs.map((d) => d.trigger) }))
  },
})
monitor.start(10)

const retained: string[][] = []
const grow = (): void => {
  for (let i = 0; i < 5; i++) retained.push(Array.from({ length: 1000 }, (_, j) => `entry ${retained.length}:${j}`))
  setTimeout(grow, 0)
}
grow()
