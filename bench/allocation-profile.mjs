// The cost of `options.allocationProfile` and `watchdog.captureStack`, side by side in one
// run: fresh processes, alternating their order, the same workloads
// (bench/alloc-overhead-child.mjs). Each feature is compared with the same dumper without
// it: allocation profiles with a plain dumper, stacks with a watchdog that has none.
//   node bench/allocation-profile.mjs [--runs N]
// Prints a markdown table: wall time of an allocation-heavy loop, event-loop delay p99 of a
// GC-heavy host, resident set size, the time to fetch and summarize a profile, the time to
// capture a blocked loop's stack, and a trivial host's time from start to exit.
import { execFileSync, spawnSync } from 'node:child_process'
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
const MODES = ['off', 'on', 'watchdog', 'stack']
const exitMs = { off: [], stack: [] }
for (let r = 0; r < runs; r++) {
  for (const workload of ['alloc', 'gc', 'stall']) {
    // Alternate the order, so drift in the machine's load hits every mode alike.
    const modes = workload === 'stall' ? ['stack'] : r % 2 ? [...MODES].reverse() : MODES
    for (const mode of modes) {
      const out = execFileSync(process.execPath, [join(here, 'alloc-overhead-child.mjs'), mode, workload, join(scratch, `${r}-${workload}-${mode}`)], {
        encoding: 'utf8',
      })
      results.push(JSON.parse(out.trim().split('\n').at(-1)))
    }
  }
  // A host that only constructs its dumper and ends: start to exit, without and with stacks.
  for (const mode of r % 2 ? ['stack', 'off'] : ['off', 'stack']) {
    const code = `const { MemoryDiagnosticsDumper } = require(${JSON.stringify(join(here, '..', 'index.js'))}); new MemoryDiagnosticsDumper({ directory: ${JSON.stringify(join(scratch, `exit-${r}-${mode}`))}${mode === 'stack' ? ', watchdog: { rssRatio: 1, captureStack: true }' : ''} }); setTimeout(() => {}, 300)`
    const t0 = performance.now()
    spawnSync(process.execPath, ['-e', code])
    exitMs[mode].push(performance.now() - t0)
  }
}
rmSync(scratch, { recursive: true, force: true })
const pick = (mode, workload, key) => results.filter((x) => x.mode === mode && x.workload === workload).map((x) => x[key])
const MiB = 2 ** 20
const both = (mode, key) => median([...pick(mode, 'alloc', key), ...pick(mode, 'gc', key)])
const ratio = (a, b) => `${(b / a).toFixed(3)}x`
const f1 = (x, unit, d = 1) => `${x.toFixed(d)} ${unit}`
const cols = (key, unit, d, fromWorkload) => {
  const v = (mode) => (fromWorkload ? median(pick(mode, fromWorkload, key)) : both(mode, key) / (unit === 'MiB' ? MiB : 1))
  const [off, on, wd, st] = ['off', 'on', 'watchdog', 'stack'].map(v)
  return `${f1(off, unit, d)} | ${f1(on, unit, d)} | ${ratio(off, on)} | ${f1(wd, unit, d)} | ${f1(st, unit, d)} | ${ratio(wd, st)}`
}
const captured = results.filter((x) => x.workload === 'stall')
const lines = [
  `| ${runs} fresh processes each, medians | plain dumper | + allocationProfile | ratio | watchdog | + captureStack | ratio |`,
  '| --- | --- | --- | --- | --- | --- | --- |',
  `| allocation-heavy loop, wall time | ${cols('wallMs', 'ms', 1, 'alloc')} |`,
  `| GC-heavy host, event-loop delay p99 | ${cols('p99Ms', 'ms', 2, 'gc')} |`,
  `| resident set size after the workload | ${cols('rss', 'MiB', 1)} |`,
  `| RSS added by constructing the dumper (before the workload) | ${cols('startedRss', 'MiB', 1)} |`,
  `| fetching and summarizing a profile (JS thread, after phase 2) | | ${f1(both('on', 'fetchMillis'), 'ms')} | | | | |`,
  `| capturing a blocked loop's stack (watchdog request to answer) | | | | | ${f1(median(captured.map((x) => x.captureMillis ?? Number.NaN)), 'ms')} (${captured.filter((x) => x.captured).length} of ${captured.length} captured) | |`,
  `| a trivial host, start to exit (plain dumper / with captureStack) | ${f1(median(exitMs.off), 'ms', 0)} | | | | ${f1(median(exitMs.stack), 'ms', 0)} | ${ratio(median(exitMs.off), median(exitMs.stack))} |`,
]
console.log(lines.join('\n'))
