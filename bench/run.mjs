// `npm run bench`: measures the dump path against the alternatives, side by side in one
// run (contenders alternate), prints a table and writes docs/benchmarks.md.
// `--quick` runs a few iterations of everything (used by the test suite to keep it working).
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { against } from './against.mjs'

const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..')
const quick = process.argv.includes('--quick')
// `--against DIR`: also this checkout beside another one (an older commit, built), in one run.
const againstAt = process.argv.indexOf('--against')
const againstDir = againstAt > 0 ? process.argv[againstAt + 1] : null
const worker = path.join(root, 'bench', 'worker.mjs')
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'mdd-bench-'))
const shm = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/mdd-bench-') : null

function run(args, nodeFlags = [], prefix = []) {
  const argv = [...prefix, process.execPath, ...nodeFlags, worker, ...args]
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 600_000 })
  const line = r.stdout.trim().split('\n').pop()
  try {
    return { ok: true, value: JSON.parse(line), r }
  } catch {
    return { ok: false, r }
  }
}
const sub = (name) => path.join(scratch, `${name}-${Math.random().toString(36).slice(2)}`)
const fmtUs = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`)
const ratio = (a, b) => (b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a')
const log = (s) => process.stderr.write(s + '\n')

const rounds = quick ? 5 : 300
// The machine's load beside the figures: at the start and at the end of the run.
const cores = os.availableParallelism ? os.availableParallelism() : os.cpus().length
const loadAtStart = os.loadavg()
log(`phase 1 on the real disk (${rounds} rounds)…`)
const disk = run(['phase1', sub('disk'), String(rounds)]).value
let tmpfs = null
if (shm) {
  log(`phase 1 on tmpfs (${rounds} rounds)…`)
  tmpfs = run(['phase1', path.join(shm, 'a'), String(rounds)]).value
}
log('V8 heap allocated per dump…')
const heap = run(['heap', sub('heap'), quick ? '5' : '300'], ['--expose-gc', '--max-semi-space-size=64']).value

log('processes forked per dump (strace)…')
const straceOk = spawnSync('strace', ['-f', '-qq', '-e', 'trace=none', 'true']).status === 0
const forkCount = {}
for (const name of ['native', 'js', 'plain JS', 'node report']) {
  if (!straceOk) {
    forkCount[name] = null
    continue
  }
  const logFile = path.join(scratch, `strace-${name.replace(/\W/g, '')}.log`)
  const n = quick ? 3 : 20
  // A baseline run with zero dumps removes Node's own start-up from the count.
  const count = (k) => {
    run(['forks', sub('forks'), name, String(k)], [], ['strace', '-f', '-qq', '-o', logFile, '-e', 'trace=clone,clone3,fork,vfork'])
    return fs
      .readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => /\b(clone3?|v?fork)\(/.test(l) && !/CLONE_THREAD/.test(l) && !/resumed>/.test(l)).length
  }
  forkCount[name] = (count(n) - count(0)) / n
}

const sizes = quick ? [100] : [100, 1024, 4096]
const scale = {}
for (const mib of sizes) {
  log(`phase 2 end to end with ${mib} MiB resident…`)
  scale[mib] = run(['scale', sub('scale'), String(mib)]).value
}

const loopMiB = sizes.at(-1)
log(`host event-loop delay under a GC-heavy workload with ${loopMiB} MiB resident…`)
const loop = run(['eventloop', sub('eventloop'), String(loopMiB), quick ? '1.5' : '18']).value

log('success under pressure (JS heap at 97% of a 64 MiB old space)…')
const pressure = {}
for (const name of ['native', 'js', 'plain JS', 'node report']) {
  const dir = sub('pressure')
  const r = run(['pressure', dir, name], ['--max-old-space-size=64'])
  // Count what really landed: complete, parseable files.
  let valid = 0
  for (const d of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    const full = path.join(dir, d)
    for (const f of fs.readdirSync(full)) {
      try {
        JSON.parse(fs.readFileSync(path.join(full, f), 'utf8'))
        valid++
      } catch {}
    }
  }
  // A contender that survived says how many of its 100 dumps completed (some overwrite
  // a rotating set of names); one that crashed is credited with the valid files it left.
  pressure[name] = { landed: r.ok ? r.value.resolved : Math.min(valid, 100), crashed: !r.ok }
}

log('collecting omitted input on the JS thread…')
const collect = run(['collect', shm ? path.join(shm, 'collect') : sub('collect'), quick ? '10' : '300']).value

log('mallinfo2 cost and lock hold…')
const mallinfo = run(['mallinfo', quick ? '0,10000' : '0,100000,1000000', quick ? '20' : '300']).value

log('observe() cost…')
const observe = run(['observe', quick ? '10000' : '1000000']).value

// ---- the table ------------------------------------------------------------------------
const N = 'native'
const rows = [
  [
    'baseline: await of a resolved promise with an equivalent result object',
    '—',
    '—',
    '—',
    `${(heap['baseline: await of a resolved promise'] / 1024).toFixed(1)} KiB`,
    '—',
    ...sizes.map(() => '—'),
    '—',
  ],
]
const p1 = (set, name) => set?.results[name]
for (const name of [
  'native',
  'native, input omitted',
  'js',
  'plain JS',
  'node report',
  'floor (writeFileSync)',
  'floor (Rust create+write+rename)',
  'floor (Rust write+link, pre-opened)',
]) {
  const t = p1(tmpfs, name)
  const d = p1(disk, name)
  rows.push([
    name,
    t ? `${fmtUs(t.phase1Median)} / ${fmtUs(t.phase1P99)} (${ratio(t.phase1Median, p1(tmpfs, N).phase1Median)})` : 'n/a',
    `${fmtUs(d.phase1Median)} / ${fmtUs(d.phase1P99)} (${ratio(d.phase1Median, p1(disk, N).phase1Median)})`,
    `${fmtUs(d.totalMedian)} / ${fmtUs(d.totalP99)} (${ratio(d.totalMedian, p1(disk, N).totalMedian)})`,
    heap[name] !== undefined ? `${(heap[name] / 1024).toFixed(1)} KiB (${ratio(heap[name], heap[N])})` : '—',
    forkCount[name] === undefined ? '—' : forkCount[name] === null ? 'n/a (no strace)' : forkCount[name].toFixed(2),
    ...sizes.map((s) => (scale[s][name] !== undefined ? `${scale[s][name].toFixed(2)} ms (${ratio(scale[s][name], scale[s][N])})` : '—')),
    pressure[name] ? `${pressure[name].landed}/100${pressure[name].crashed ? ' (crashed)' : ''}` : '—',
  ])
}
const header = [
  'contender',
  'phase 1 (the call), tmpfs: median / p99 (vs native)',
  'phase 1 (the call), disk: median / p99 (vs native)',
  'JS-thread time per whole dump (both phases), disk: median / p99 (vs native)',
  'V8 heap per dump (vs native)',
  'forks per dump',
  ...sizes.map((s) => `phase 2 end to end, ${s >= 1024 ? `${s / 1024} GiB` : `${s} MiB`} resident (vs native)`),
  'dumps landed at 97% heap',
]

// ---- targets --------------------------------------------------------------------------
const phase1Ratio = (set, other) => (set ? p1(set, N).phase1Median / p1(set, other).phase1Median : null)
const targets = [
  ['phase 1, input passed, at most 0.25x of the plain-JS phase 1, which collects its own figures (tmpfs)', phase1Ratio(tmpfs, 'plain JS'), (v) => v <= 0.25],
  ['phase 1, input passed, at most 0.25x of the plain-JS phase 1, which collects its own figures (disk)', phase1Ratio(disk, 'plain JS'), (v) => v <= 0.25],
  ['phase 1, input passed, at most 3x of the Rust write+link floor (tmpfs)', phase1Ratio(tmpfs, 'floor (Rust write+link, pre-opened)'), (v) => v <= 3],
  ['phase 1, input passed, at most 3x of the Rust write+link floor (disk)', phase1Ratio(disk, 'floor (Rust write+link, pre-opened)'), (v) => v <= 3],
  [
    'phase 1, input omitted (the drop-in call), at most 0.4x of the plain-JS phase 1 (tmpfs)',
    tmpfs ? p1(tmpfs, 'native, input omitted').phase1Median / p1(tmpfs, 'plain JS').phase1Median : null,
    (v) => v <= 0.4,
  ],
  [
    'phase 1, input omitted (the drop-in call), at most 0.4x of the plain-JS phase 1 (disk)',
    p1(disk, 'native, input omitted').phase1Median / p1(disk, 'plain JS').phase1Median,
    (v) => v <= 0.4,
  ],
  ['phase 1 p99 at most 2x its median (tmpfs)', tmpfs ? p1(tmpfs, N).phase1P99 / p1(tmpfs, N).phase1Median : null, (v) => v <= 2],
  ['zero forks per dump', forkCount[N], (v) => v === 0],
  ['at most 0.75 KiB of V8 heap per awaited dump, input passed (KiB)', heap[N] / 1024, (v) => v <= 0.75],
  [`phase 2 latency at ${sizes.at(-1)} MiB within 1.2x of 100 MiB`, scale[sizes.at(-1)][N] / scale[100][N], (v) => v <= 1.2],
  [
    `host event-loop delay p99 at ${loopMiB} MiB with phase 2 running, within 1.2x of the same GC-heavy workload without dumps`,
    loop[N].p99Ms / loop['no dumps'].p99Ms,
    (v) => v <= 1.2,
  ],
  ['`observe()` through the package entry at most 200 ns per call (ns)', observe.observeNs, (v) => v <= 200],
]
const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}`
let rust = 'unknown'
try {
  rust = execFileSync('rustc', ['--version'], { encoding: 'utf8' }).trim()
} catch {}
// V8's heap-snapshot peak per shape (and, in the full run, per supported Node version).
const peakArgs = quick
  ? ['--nodes', process.versions.node.split('.')[0], '--sizes', '0,4', '--shapes', 'strings,mix']
  : ['--nodes', '20,22,24,26', '--sizes', '0,8,24']
const peakRun = spawnSync(process.execPath, [path.join(root, 'bench', 'snapshot-peak.mjs'), ...peakArgs], {
  encoding: 'utf8',
  maxBuffer: 16 << 20,
  timeout: 1_800_000,
})
const snapshotPeak = peakRun.status === 0 ? peakRun.stdout : `snapshot-peak.mjs failed: ${peakRun.stderr}`
// The cost of options.allocationProfile, off and on side by side (fresh processes).
const allocRun = spawnSync(process.execPath, [path.join(root, 'bench', 'allocation-profile.mjs'), '--runs', quick ? '1' : '7'], {
  encoding: 'utf8',
  maxBuffer: 16 << 20,
  timeout: 1_800_000,
})
const allocationProfileCost = allocRun.status === 0 ? allocRun.stdout.trim() : `allocation-profile.mjs failed: ${allocRun.stderr}`
// The cost of watching: the recorder alone and with the pressure rule, in idle processes.
log('the cost of watching (recorder, pressure rule)…')
const watchRun = spawnSync(
  process.execPath,
  [path.join(root, 'bench', 'watching.mjs'), ...(quick ? ['--runs', '1', '--seconds', '1'] : ['--runs', '7', '--seconds', '10'])],
  {
    encoding: 'utf8',
    timeout: 600_000,
  },
)
const watching = watchRun.status === 0 ? JSON.parse(watchRun.stdout.trim().split('\n').at(-1)) : null
// The next start (previousRun) and telemetry's own costs.
log('the next start (previousRun) and telemetry…')
const nextRun = spawnSync(process.execPath, [path.join(root, 'bench', 'next-start.mjs'), '--runs', quick ? '1' : '15'], { encoding: 'utf8', timeout: 600_000 })
const nextStart = nextRun.status === 0 ? JSON.parse(nextRun.stdout.trim().split('\n').at(-1)) : null
const telRun = spawnSync(process.execPath, [path.join(root, 'bench', 'telemetry.mjs'), quick ? '5' : '300'], { encoding: 'utf8', timeout: 600_000 })
const telemetry = telRun.status === 0 ? JSON.parse(telRun.stdout.trim().split('\n').at(-1)) : null
// The cost of being there: require(), construction, the first dump against the median.
// Before and after (`--against DIR`): the same fresh-process measurements of both checkouts,
// alternating every round.
let compared = null
if (againstDir) {
  log(`before and after: this checkout against ${againstDir}…`)
  compared = against(againstDir, quick ? 2 : 21)
  try {
    compared.beforeCommit = execFileSync('git', ['-C', againstDir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    compared.afterCommit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
  } catch {}
}
function beforeAfter() {
  if (!compared) return []
  const { before: b, after: a } = compared
  const row = (name, k, fmt) => `| ${name} | ${fmt(b[k])} | ${fmt(a[k])} | ${(a[k] / b[k]).toFixed(2)}x |`
  const ms = (v) => `${v.toFixed(2)} ms`
  const mib = (v) => `${(v / 2 ** 20).toFixed(2)} MiB`
  const ns = (v) => `${v.toFixed(1)} ns`
  return [
    `## Before and after (${compared.beforeCommit ?? 'the other checkout'} → ${compared.afterCommit ?? 'this checkout'})`,
    '',
    `Fresh processes of \`bench/against-child.mjs\` for both checkouts, alternating which goes first every round, medians of ${compared.rounds} rounds each (\`npm run bench -- --against DIR\`).`,
    '',
    '| figure | before | after | after / before |',
    '| --- | --- | --- | --- |',
    row('`require()` of the package', 'requireMs', ms),
    row('`require()`: RSS added', 'requireRssBytes', mib),
    row("the first dumper's construction (recorder on)", 'constructMs', ms),
    row("first `dump('hard')` after construction (input omitted)", 'firstUs', fmtUs),
    row('median of the next 40 (input omitted)', 'medianUs', fmtUs),
    row('phase 1 with the figures passed: median', 'phase1Us', fmtUs),
    row('phase 1 with the figures passed: p99', 'phase1P99Us', fmtUs),
    row('`observe()` per call', 'observeNs', ns),
    '',
  ]
}
const startupRun = spawnSync(process.execPath, [path.join(root, 'bench', 'startup.mjs'), '--runs', quick ? '2' : '15'], { encoding: 'utf8', timeout: 600_000 })
let startup = null
try {
  startup = JSON.parse(startupRun.stdout.trim().split('\n').at(-1))
} catch {
  log(`startup.mjs failed: ${startupRun.stderr}`)
}
targets.push(
  ['`require()` of the package in a fresh process at most 3 ms (ms)', startup?.requireMs ?? null, (v) => v <= 3],
  ['`require()` adds at most 2 MiB of RSS (MiB)', startup ? startup.requireRssBytes / 2 ** 20 : null, (v) => v <= 2],
  ['first dump after construction at most 1.5x the median dump', startup?.firstOverMedian ?? null, (v) => v <= 1.5],
  ['the `.node` at most 1.1 MB (MB)', startup?.nodeBytes ? startup.nodeBytes / 1e6 : null, (v) => v <= 1.1],
)
const md = [
  '# Benchmarks',
  '',
  `Measured by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}: ${machine}; Node ${process.versions.node}; ${rust}.`,
  'All contenders run in the same process, alternating order every round; each figure is a median',
  '(and p99) over the rounds. Ratios are to the native addon. Re-run with `npm run bench`; the',
  'machine is shared and noisy, so compare ratios within one run rather than figures across runs.',
  '',
  'Contenders: **native** (this addon through the package entry, with the figures passed, as a',
  'host that has them calls it), **native, input omitted** (the drop-in `dump(trigger)`, which',
  'collects them), **js** (its pure-JS fallback), **plain JS** (the approach hosts use today, in',
  '`bench/plain-js.mjs`: phase 1 collects its own figures (heap statistics, memory usage, heap',
  'spaces), then `JSON.stringify` + `writeFileSync` of a document of the same size as the native',
  'phase 1 to its final name, nothing else; its phase 2,',
  'with a forked `ps` for the process tree, runs on a later turn of the event loop and counts only',
  'in the whole-dump column), **node report** (`process.report.getReport()` written to disk, one',
  'phase; note that it contains every environment variable, which this addon refuses to record),',
  'and three floors writing the bytes of a real native phase-1 document with no serialization:',
  '`fs.writeFileSync`; the unarmed phase 1 from Rust (exclusive create + write + no-replace',
  'rename); and the physical floor of the armed phase 1, one write into a file opened beforehand',
  '(untimed) plus one `linkat` to the final name.',
  '',
  `| ${header.join(' | ')} |`,
  `| ${header.map(() => '---').join(' | ')} |`,
  ...rows.map((r) => `| ${r.join(' | ')} |`),
  '',
  `V8 heap per awaited native dump, decomposed (same run): ${['native, skipped by the cap (input read, promise resolved with null)', 'native, skipped by the cap, empty input objects', 'native, full dump with empty input objects'].map((k) => `${k}: ${(heap[k] / 1024).toFixed(2)} KiB`).join('; ')}; an await of a resolved promise with an equivalent result object: ${(heap['baseline: await of a resolved promise'] / 1024).toFixed(2)} KiB.`,
  '',
  `\`observe()\`: ${observe.observeNs.toFixed(0)} ns per call through the package entry, which writes the figures from JS into the recorder's memory (the addon's own checked \`observe()\`, reading each property through Node-API: ${observe.checkedNs.toFixed(0)} ns; a no-op JS function call: ${observe.noopNs.toFixed(0)} ns).`,
  '',
  `Phase 2 and \`/proc/self/smaps_rollup\` by resident size. By default (\`smapsRollup: 'auto'\`) phase 2 reads \`smaps_rollup\` only below 128 MiB resident: producing it makes the kernel walk every page-table entry under the memory-map lock V8's GC needs. The RSS split comes from \`/proc/self/status\` at every size (${[...new Set(sizes.flatMap((s) => scale[s].rssSplitSources))].join('; ')}).`,
  '',
  "| resident (process RSS) | native phase 2 end to end | its `phase2Millis` | with `smapsRollup: 'always'` | one direct read of `smaps_rollup` |",
  '| --- | --- | --- | --- | --- |',
  `| ${scale[sizes[0]].atStart.rssMiB.toFixed(0)} MiB (before allocating) | — | — | — | ${scale[sizes[0]].atStart.smapsReadMs.toFixed(2)} ms |`,
  ...sizes.map(
    (s) =>
      `| ${s >= 1024 ? `${s / 1024} GiB` : `${s} MiB`} (${scale[s].rssMiB.toFixed(0)} MiB) | ${scale[s][N].toFixed(2)} ms | ${scale[s].nativePhase2Millis.toFixed(2)} ms | ${scale[s]['native, smapsRollup always'].toFixed(2)} ms | ${scale[s].smapsReadMs.toFixed(2)} ms |`,
  ),
  '',
  `Host event-loop delay (\`perf_hooks.monitorEventLoopDelay\`, resolution 1 ms) with ${loopMiB >= 1024 ? `${loopMiB / 1024} GiB` : `${loopMiB} MiB`} resident (${loop.rssMiB.toFixed(0)} MiB RSS) while the JS thread runs a GC-heavy workload (5 ms slices allocating short-lived objects and churning a retained set), in alternating segments; median over 6 segments of each segment's p99 (worst segment; mean):`,
  '',
  '| condition | event-loop delay p99 (worst) | mean | dumps completed |',
  '| --- | --- | --- | --- |',
  ...['no dumps', N, 'native, smapsRollup always'].map(
    (n) =>
      `| ${n === N ? 'native (default), dumping back to back' : n === 'no dumps' ? 'no dumps' : "native with smapsRollup: 'always', dumping back to back"} | ${loop[n].p99Ms.toFixed(2)} ms (${loop[n].maxP99Ms.toFixed(2)} ms) | ${loop[n].meanMs.toFixed(2)} ms | ${loop[n].dumps} |`,
  ),
  '',
  `Collecting omitted input on the JS thread: ${fmtUs(collect['all of it (what dump(trigger) collects)'])} per \`dump(trigger)\` (median), measured between dumps as a host makes the calls, of which ${Object.entries(
    collect,
  )
    .filter(([k]) => k.includes('()'))
    .map(([k, v]) => `\`${k}\` ${fmtUs(v)}`)
    .join(
      ', ',
    )}. Phase 1 through the public class on ${shm ? 'tmpfs' : 'disk'}, alternating: ${fmtUs(collect['phase 1, input omitted'])} with the input omitted, ${fmtUs(collect['phase 1, input passed'])} with the same figures passed (collected beforehand, untimed): ${ratio(collect['phase 1, input omitted'], collect['phase 1, input passed'])}.`,
  '',
  `glibc \`mallinfo2()\` (phase 2's \`memoryAccounting.malloc\`), called from a native thread of a Node process: it walks each malloc arena's free lists holding that arena's lock, so its duration bounds how long another thread's \`malloc\` can wait. Each row first allocates the given number of small blocks and frees every other one (longer free lists); "slowest malloc" is another thread's slowest \`malloc(64)\`+\`free\` over the same window (${mallinfo[0].calls} calls, 200 µs apart) without and with the calls.`,
  '',
  '| fragmented blocks | call median | p99 | max | slowest malloc without / with the calls | free retained | in use |',
  '| --- | --- | --- | --- | --- | --- | --- |',
  ...mallinfo.map(
    (m) =>
      `| ${m.fragment.toLocaleString('en')} | ${fmtUs(m.medianUs)} | ${fmtUs(m.p99Us)} | ${fmtUs(m.maxUs)} | ${fmtUs(m.mallocMaxIdleUs)} / ${fmtUs(m.mallocMaxDuringUs)} | ${m.freeRetainedMiB.toFixed(1)} MiB | ${m.inUseMiB.toFixed(1)} MiB |`,
  ),
  '',
  '## The cost of being there',
  '',
  startup
    ? `Fresh processes (\`bench/startup.mjs\`, medians of ${startup.runs}): \`require()\` of the package ${startup.requireMs.toFixed(2)} ms and +${(startup.requireRssBytes / 2 ** 20).toFixed(1)} MiB RSS; construction ${startup.constructMs.toFixed(2)} ms; the first \`dump('hard')\` after construction (a turn of the event loop later, input omitted) ${fmtUs(startup.firstUs)} against a median of ${fmtUs(startup.medianUs)} for the next 40 (${startup.firstOverMedian.toFixed(2)}x; their p99 ${startup.p99OverP50.toFixed(2)}x the median); the loaded \`.node\` ${startup.nodeBytes == null ? 'n/a' : `${(startup.nodeBytes / 1e6).toFixed(2)} MB`}.`
    : 'bench/startup.mjs failed.',
  '',
  watching
    ? `The cost of watching (\`bench/watching.mjs\`, fresh idle processes, alternating, medians of ${watching.runs} runs of ${watching.seconds} s at \`intervalMs: ${watching.intervalMs}\`): CPU time per sampling interval, every thread, ${watching.none.cpuUsPerInterval.toFixed(0)} µs with no dumper, ${watching.recorder.cpuUsPerInterval.toFixed(0)} µs with the recorder alone (\`pressure: false\`), ${watching.pressure.cpuUsPerInterval.toFixed(0)} µs with the pressure rule (the default: the limit's usage, \`memory.stat\` or \`/proc/meminfo\`, and PSI read once more per sample); RSS ${watching.none.rssMiB.toFixed(1)}, ${watching.recorder.rssMiB.toFixed(1)} and ${watching.pressure.rssMiB.toFixed(1)} MiB. At the default interval (1 s) the recorder with the rule takes ${((watching.pressure.cpuUsPerInterval / 1e6) * 100).toFixed(3)}% of one core.`
    : `bench/watching.mjs failed: ${watchRun.stderr}`,
  '',
  ...beforeAfter(),
  '## The next start and telemetry (`previousRun()`, `options.telemetry`)',
  '',
  nextStart
    ? `\`previousRun()\` in fresh processes after \`require()\` (\`bench/next-start.mjs\`, medians of ${nextStart.runs}; the V8 heap allocated by the call, after a full GC and with a young generation large enough that no scavenge hides it, and the heap still used after a full GC with the answer held): ${Object.entries(
        nextStart.cases,
      )
        .map(
          ([k, v]) =>
            `${k}, ${v.ms.toFixed(2)} ms and ${v.heapBytes === null ? 'heap not measured (a GC ran during every call)' : `${(v.heapBytes / 1024).toFixed(0)} KiB`} (${(v.retainedBytes / 1024).toFixed(0)} KiB retained)`,
        )
        .join('; ')} (the directory of a V8 heap OOM: its trail and ${nextStart.files - 1} dumps).`
    : `bench/next-start.mjs failed: ${nextRun.stderr}`,
  '',
  telemetry
    ? `Telemetry with the OpenTelemetry SDK (\`bench/telemetry.mjs\`, medians of ${telemetry.rounds}): a metric reader's collection takes ${fmtUs(telemetry.collectWithGaugesUs)} with a dumper's gauges against ${fmtUs(telemetry.collectUs)} without them; one dump's log record ${fmtUs(telemetry.recordUs)} on the JS thread (its document read and parsed after phase 2), ${fmtUs(telemetry.recordWithDocumentUs)} with the redacted document as its body.`
    : `bench/telemetry.mjs failed: ${telRun.stderr}`,
  '',
  '## The cost of allocation profiles and blocked-loop stacks (`options.allocationProfile`, `watchdog.captureStack`)',
  '',
  "Fresh processes, alternating their order, the same workloads (`bench/allocation-profile.mjs`); each feature beside the same dumper without it: an allocation-heavy loop (wall time), a GC-heavy host whose event loop keeps turning (loop delay p99), the resident set size, the JS-thread time to fetch and summarize a profile after phase 2, the time from the watchdog's request to the blocked main thread's stack, and a trivial host's start to exit.",
  '',
  allocationProfileCost,
  '',
  '## Heap-snapshot peak by heap shape and Node version',
  '',
  'The figures the snapshot guard\'s estimate is derived from (`bench/snapshot-peak.mjs`, docs/heap-snapshots.md): each line is a fresh process that builds a heap of one shape and has V8 write a snapshot; "snapshot peak" is the resident set size it added (VmHWM, reset just before), beside the guard\'s estimate for that heap.',
  '',
  '```',
  snapshotPeak.trim(),
  '```',
  '',
  '## Targets',
  '',
  '| target | measured | met |',
  '| --- | --- | --- |',
  ...targets.map(
    ([name, v, ok]) => `| ${name} | ${typeof v === 'number' ? v.toFixed(2) : 'n/a'} | ${v === null || v === undefined ? 'n/a' : ok(v) ? 'yes' : '**no**'} |`,
  ),
  '',
  'The figures here are what this run measured; why the missed ones are missed follows.',
  '',
  '## Why the missed targets are missed',
  '',
  'Figures computed from this run are marked "(this run)"; the others were measured on the same 2-core shared machine with Node 20 on 2026-12-05, apart from this run, as said in each line.',
  '',
  `- **Phase 1 against plain JS.** The floor itself, one write and one \`linkat\` of the same bytes into a file opened beforehand, is ${disk && tmpfs ? `${ratio(p1(tmpfs, 'floor (Rust write+link, pre-opened)').phase1Median, p1(tmpfs, 'plain JS').phase1Median)} (tmpfs) and ${ratio(p1(disk, 'floor (Rust write+link, pre-opened)').phase1Median, p1(disk, 'plain JS').phase1Median)} (disk)` : 'n/a'} of the plain-JS phase 1 (this run): a 0.25x target leaves nothing for the call itself, the document or the promise. The drop-in call also collects what the host left out: ${fmtUs(collect['all of it (what dump(trigger) collects)'])} (this run, above), through the only public sources (\`process.memoryUsage()\` for \`arrayBuffers\`, which also reads the RSS from procfs; \`v8.getHeapStatistics()\`, \`v8.getHeapSpaceStatistics()\`, \`process.getActiveResourcesInfo()\`), which the plain-JS dumper pays too.`,
  "- **Phase 1 against the floor (3x).** A profile of the call (perf, a build with symbols, dumps back to back, apart from this run) splits `Dumper::begin` into the write and the `linkat` (about 36%), closing the landed file and freeing its 64 KiB buffer (about 21%: now done by the re-arming off the JS thread), serializing the document (14%), the directory check (one `statx`, 10%) and the file name (6%); outside it the call reads the block and the heap spaces, makes the promise and wakes the phase-2 thread (a futex). After the change, called 2 ms apart (apart from this run), the public call takes 75-89 µs with the input passed, about 2.5-3x the floor. In this harness each call comes 5 ms after other contenders' work (`process.report` among them), so it runs with cold caches: a longer path (V8, Node-API, Rust, three system calls) pays more for that than `writeFileSync`.",
  `- **V8 heap per awaited dump.** ${(heap[N] / 1024).toFixed(2)} KiB with the input passed, against ${(heap['baseline: await of a resolved promise'] / 1024).toFixed(2)} KiB for an await of a resolved promise carrying an equivalent result object (this run). The harness leaves the active resources to the package entry: \`process.getActiveResourcesInfo()\`'s array is Node's, and it now crosses as it is (the addon counts it: no record is built in JS and read back), which took about 0.4 KiB off with 23 resources. Apart from this run (1000 dumps): 1.0-1.07 KiB with \`activeResources: null\`, of which the result object and its path string, the dumper's promise and the one promise derived from it (which keeps a rejection from ever reaching a host that ignores the promise) are the rest. No closure is made per dump.`,
  "- **The first dump.** Its first-time costs are paid earlier: the process's start time and the phase-2 thread when the dumper is made (the thread took about 0.1 ms off the first dump), node:v8, the collectors and the wrapper's path at a later turn of the event loop. What remains is measured apart from this run: a first dump made after another dumper's real dump in the same process takes 161-182 µs instead of 272-281, so about 0.1 ms is V8's and the addon's first run of the success path (the promise's settling, code pages the process never ran); the rest is the first call after 50 ms idle against a median of calls made back to back.",
  `- **\`require()\`.** ${startup ? `${startup.requireMs.toFixed(2)} ms and +${(startup.requireRssBytes / 2 ** 20).toFixed(2)} MiB (this run)` : 'n/a'}. The package's own binary is now loaded by its name without napi-rs's generated loader (about 2 ms), and what only a dumper needs is loaded later: contract.json when the first dumper is made, the writers generated from it at that dumper's warm-up a turn of the event loop later (never by a dump, which may come when the process has no descriptor left), and the heap-snapshot half by the first dumper that asks for snapshots. What is left is the \`dlopen\` of the \`.node\` (0.5 ms and +2.0 MiB on its own, apart from this run: mapping and relocating the binary), \`lib/dumper/public-class.js\` and the entry itself (which loads the binary: a file of its own for that cost about 0.15 ms, measured before and after).`,
  '- **The `.node` size.** Of its 1.28 MB of code (nm, apart from this run): this crate 450 KB, Rust\'s `core` 250 KB and `std` 135 KB, serde_json 111 KB, napi 57 KB, sysinfo 52 KB, and std\'s backtrace printing (gimli, addr2line, rustc-demangle, miniz_oxide) 75 KB; 115 KB of unwind tables, which `catch_unwind` needs (no panic may cross into Node, so `panic = "abort"` is not an option). `opt-level = "s"` made it 1.59 MB, and generating one JSON serializer instead of two (compact and indented) saved 50 KB but would reorder the document\'s keys; neither was adopted.',
  "- **Phase 2 at 4 GiB.** Both sizes take a few milliseconds off the JS thread, and the ratio moves between runs; the host's event-loop delay with phase 2 running is in the table above.",
  '',
  '"Phase 1 (the call)" is the time `dump()` (or the contender\'s call) takes on the JS thread.',
  '"JS-thread time per whole dump" is the event loop\'s active time from the call until the promise',
  'settled (phase 1 plus any phase-2 work that runs on the JS thread). "V8 heap per dump" is the',
  'growth of `used_heap_size` over 300 awaited dumps (so that code V8 compiles during the loop',
  'weighs little) with a 64 MiB young generation (no scavenge in between), after 20 warm-up calls',
  'and a full GC, median of 5 repetitions, with the inputs built',
  "beforehand, so the caller's own `getHeapStatistics()` objects are not counted; for the addon it",
  'is the input read through Node-API, the promise and the result object (decomposed above).',
  '',
]
const loadAtEnd = os.loadavg()
const loadMax = Math.max(loadAtStart[0], loadAtEnd[0])
const quiet = loadMax <= cores
md.splice(
  3,
  0,
  `Load average (1 min) ${loadAtStart[0].toFixed(2)} at the start and ${loadAtEnd[0].toFixed(2)} at the end of the run, on ${cores} cores: ${quiet ? 'a quiet run' : '**a loaded run: these figures are not headline figures**'}.`,
)
const text = md.join('\n')
// Headline figures come only from a quiet run: a loaded one is printed with a warning and
// docs/benchmarks.md is left as it was.
if (!quick && quiet) fs.writeFileSync(path.join(root, 'docs', 'benchmarks.md'), text)
console.log(text)
if (!quiet) log(`warning: load average ${loadMax.toFixed(2)} exceeds the ${cores} cores: docs/benchmarks.md not written; the figures above are printed only`)
fs.rmSync(scratch, { recursive: true, force: true })
if (shm) fs.rmSync(shm, { recursive: true, force: true })
