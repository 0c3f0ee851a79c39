// The cost of `options.allocationProfile`, side by side in one run: fresh processes,
// alternating off and on, the same workloads (bench/alloc-overhead-child.mjs).
//   node bench/allocation-profile.mjs [--runs N]
// Prints a markdown table: wall time of an allocation-heavy loop, event-loop delay p99 of a
// GC-heavy host, resident set size, and the time to fetch and summarize a profile.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const i = process.argv.indexOf('--runs')
const runs = i > 0 ? Number(process.argv[i + 1]) : 7
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const results = []
const scratch = mkdtempSync(join(tmpdir(), 'mdd-allocbench-'))
for (let r = 0; r < runs; r++) {
  for (const workload of ['alloc', 'gc']) {
    // Alternate which goes first, so drift in the machine's load hits both alike.
    for (const mode of r % 2 ? ['on', 'off'] : ['off', 'on']) {
      const out = execFileSync(process.execPath, [join(here, 'alloc-overhead-child.mjs'), mode, workload, join(scratch, `${r}-${workload}-${mode}`)], {
        encoding: 'utf8',
      })
      results.push(JSON.parse(out.trim().split('\n').at(-1)))
    }
  }
}
rmSync(scratch, { recursive: true, force: true })
const pick = (mode, workload, key) => results.filter((x) => x.mode === mode && x.workload === workload).map((x) => x[key])
const MiB = 2 ** 20
const row = (name, off, on, unit, digits = 1) => `| ${name} | ${off.toFixed(digits)} ${unit} | ${on.toFixed(digits)} ${unit} | ${(on / off).toFixed(3)}x |`
const rssOff = median([...pick('off', 'alloc', 'rss'), ...pick('off', 'gc', 'rss')])
const rssOn = median([...pick('on', 'alloc', 'rss'), ...pick('on', 'gc', 'rss')])
const lines = [
  `| ${runs} fresh processes each, medians | off | on | on / off |`,
  '| --- | --- | --- | --- |',
  row('allocation-heavy loop, wall time', median(pick('off', 'alloc', 'wallMs')), median(pick('on', 'alloc', 'wallMs')), 'ms'),
  row('GC-heavy host, event-loop delay p99', median(pick('off', 'gc', 'p99Ms')), median(pick('on', 'gc', 'p99Ms')), 'ms', 2),
  row('resident set size after the workload', rssOff / MiB, rssOn / MiB, 'MiB'),
  `| RSS added by constructing the dumper (before the workload) | ${(median([...pick('off', 'alloc', 'startedRss'), ...pick('off', 'gc', 'startedRss')]) / MiB).toFixed(1)} MiB | ${(median([...pick('on', 'alloc', 'startedRss'), ...pick('on', 'gc', 'startedRss')]) / MiB).toFixed(1)} MiB | |`,
  `| fetching and summarizing a profile (JS thread, after phase 2) | | ${median([...pick('on', 'alloc', 'fetchMillis'), ...pick('on', 'gc', 'fetchMillis')]).toFixed(1)} ms | |`,
]
console.log(lines.join('\n'))
