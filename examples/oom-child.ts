// Run by the test suite as `node --max-old-space-size=96 oom-child.mjs <dir>`: the
// monitor from monitor.ts watches a process that leaks until V8 gives up. At each
// cleanup it prints what is already on disk, which proves the phase-1 file is complete
// before the host's cleanup line runs, and then the process dies of a real V8 OOM.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { MemoryPressureMonitor } from './monitor.js'

const directory = process.argv[2]
if (!directory) throw new Error('usage: oom-child <directory>')

const monitor = new MemoryPressureMonitor({
  directory,
  heapRatio: { hard: 0.35, critical: 0.5 },
  dumper: { sessionId: 'oom-child', cooldownMs: 0 },
  cleanup: (level) => {
    const files = readdirSync(directory).filter((f) => f.startsWith('memory-') && f.endsWith('.json'))
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
