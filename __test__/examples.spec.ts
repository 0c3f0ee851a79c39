import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { dumpFiles, implementations, readDump, root, runNode, scratch } from './helpers.js'
import { writeModules } from './ts-run.js'

const example = (name: string) => readFileSync(join(root, 'examples', `${name}.ts`), 'utf8')
const modules = writeModules(join(scratch('examples'), 'out'), {
  monitor: example('monitor'),
  'oom-child': example('oom-child'),
  'bug-report': example('bug-report'),
  'cli-start': example('cli-start'),
})

describe('examples/monitor.ts, a minimal MemoryPressureMonitor wired to the dumper', () => {
  it('dumps on hard and critical pressure (heap ratio or RSS) and the phase-1 file is on disk when its cleanup runs', async () => {
    const { MemoryPressureMonitor } = await import(pathToFileURL(modules.monitor).href)
    const dir = join(scratch(), 'diag')
    const seen: Array<[string, string[]]> = []
    const cleanup = (level: string) => seen.push([level, readdirSync(dir).filter((f) => f.endsWith('.json'))])
    // Every heap is above 0 % of its limit: hard pressure at once.
    const heap = new MemoryPressureMonitor({ directory: dir, heapRatio: { hard: 0, critical: 2 }, cleanup })
    expect(heap.check()).toBe('hard')
    // Every process is above 1 byte of RSS: critical through the RSS threshold.
    const rss = new MemoryPressureMonitor({
      directory: join(dir, 'rss'),
      heapRatio: { hard: 2, critical: 2 },
      rssBytes: { hard: 1, critical: 2 },
      cleanup: (level: string) => seen.push([level, readdirSync(join(dir, 'rss'))]),
    })
    expect(rss.check()).toBe('critical')
    const calm = new MemoryPressureMonitor({ directory: join(dir, 'calm'), heapRatio: { hard: 2, critical: 2 }, cleanup })
    expect(calm.check()).toBe('normal')
    expect(seen.map(([level, files]) => [level, files.length])).toEqual([
      ['hard', 1],
      ['critical', 1],
    ])
    expect(readDump(join(dir, seen[0][1][0])).trigger).toBe('hard')
    expect(readDump(join(dir, 'rss', seen[1][1][0])).trigger).toBe('critical')
  })

  it.each(implementations)(
    'in a child driven to a real V8 OOM ($name): each phase-1 file is on disk before the cleanup line runs',
    ({ name, env }) => {
      const dir = join(scratch(), 'diag')
      const r = runNode(modules['oom-child'], [dir], { prefix: [], env, nodeArgs: ['--max-old-space-size=96'] })
      expect(r.signal ?? r.status, r.stderr.slice(-2000)).not.toBe(0)
      expect(r.stderr).toMatch(/JavaScript heap out of memory|Reached heap limit/)
      const cleanups = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l))
      // Each cleanup already sees its own dump, complete and parseable, on disk.
      expect(cleanups).toEqual([
        { cleanup: 'hard', onDisk: ['hard'] },
        { cleanup: 'critical', onDisk: ['hard', 'critical'] },
      ])
      const docs = dumpFiles(dir).map(readDump)
      expect(docs.map((d) => d.trigger)).toEqual(['hard', 'critical'])
      for (const d of docs) {
        expect(d.runtime.implementation).toBe(name)
        expect(d.atTrigger.v8HeapStats.heapSizeLimit).toBeLessThan(512 * 2 ** 20) // the 96 MiB old space, not the default
        expect(d.atTrigger.activeResources).toBeTypeOf('object')
      }
    },
    120_000,
  )
})

describe('examples/cli-start.ts, a CLI telling its user how the last run ended', () => {
  it('after a real V8 heap OOM, the next start prints one line naming the crash and the bundle command; the start after that prints nothing', () => {
    const dir = join(scratch(), 'diag')
    const died = runNode(join(root, '__test__/children/bundle-child.mjs'), [dir, 'v8'], { nodeArgs: ['--max-old-space-size=96'] })
    expect(died.stderr).toMatch(/JavaScript heap out of memory|Reached heap limit/)
    const first = runNode(modules['cli-start'], [dir])
    expect(first.status, first.stderr).toBe(0)
    expect(first.stderr).toMatch(
      /^The last run of this program \(pid \d+\) at \d\d:\d\d:\d\d UTC crashed: .*JS heap grew by \d+ MiB.*\. Evidence: npx memory-diagnostics-dumper bundle \S+ --pid \d+@\d+\n$/,
    )
    const second = runNode(modules['cli-start'], [dir])
    expect(second.status, second.stderr).toBe(0)
    expect(second.stderr).toBe('')
  })
})

describe('examples/bug-report.ts, a host CLI offering the bundle from its bug-report command', () => {
  it('writes the bundle and prints its path; says so when there is nothing to send', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    const fixture = join(root, 'tests/fixtures/inspect/kernel-oom-cgroup-limit')
    for (const f of readdirSync(fixture)) copyFileSync(join(fixture, f), join(dir, f))
    const out = join(scratch(), 'report.zip')
    const r = runNode(modules['bug-report'], [dir, out])
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toBe(`Attach ${out} (${(statSync(out).size / 1024).toFixed(0)} KiB, 7 files) to your bug report.\n`)
    const empty = runNode(modules['bug-report'], [scratch()])
    expect(empty.stdout).toMatch(/^No memory diagnostics to attach: nothing to bundle in .*: no dump or recorder file in it\n$/)
  })
})
