// The cost of previousRun() at a host's start, in fresh processes (docs/previous-run.md):
// with nothing new to tell (the usual start), after a clean exit, and after a real V8 heap
// OOM (the one start that reports it). The directories are made once by real processes;
// each measured start gets a fresh copy, so that every run answers the same question.
//   node bench/next-start.mjs [--runs N]   prints one JSON line of medians over the runs
import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const i = process.argv.indexOf('--runs')
const runs = i > 0 ? Number(process.argv[i + 1]) : 15
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const base = mkdtempSync(join(tmpdir(), 'mdd-next-start-'))
const child = join(here, '..', '__test__', 'children', 'bundle-child.mjs')
const crashed = join(base, 'crashed')
spawnSync(process.execPath, ['--max-old-space-size=96', child, crashed, 'v8'], { encoding: 'utf8' })
const clean = join(base, 'clean')
execFileSync(process.execPath, [join(here, '..', '__test__', 'children', 'death.mjs'), clean, 'clean'])
// Answered already: the trail's marker is there.
const answered = join(base, 'answered')
cpSync(crashed, answered, { recursive: true })
execFileSync(process.execPath, [join(here, 'next-start-child.mjs'), answered])
const cases = { 'nothing new': answered, 'after a clean exit': clean, 'after a V8 heap OOM': crashed }
const out = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
for (let r = 0; r < runs; r++) {
  for (const [name, dir] of Object.entries(cases)) {
    const copy = join(base, `run-${r}-${name.replace(/\W/g, '')}`)
    cpSync(dir, copy, { recursive: true })
    // A run whose call saw a GC keeps its time; its heap figure is unmeasured (null), and the
    // median is taken over the runs that measured it.
    const line = execFileSync(process.execPath, ['--max-semi-space-size=64', '--expose-gc', join(here, 'next-start-child.mjs'), copy], {
      encoding: 'utf8',
    })
    out[name].push(JSON.parse(line.trim().split('\n').at(-1)))
  }
}
const files = readdirSync(crashed).length
rmSync(base, { recursive: true, force: true })
console.log(
  JSON.stringify({
    runs,
    files,
    cases: Object.fromEntries(
      Object.entries(out).map(([k, v]) => {
        const heaps = v.map((x) => x.heapBytes).filter((b) => b !== null)
        return [
          k,
          {
            ms: median(v.map((x) => x.ms)),
            heapBytes: heaps.length ? median(heaps) : null,
            retainedBytes: median(v.map((x) => x.retainedBytes)),
            outcome: v[0].outcome,
          },
        ]
      }),
    ),
  }),
)
