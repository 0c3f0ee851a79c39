// Hosts that make `watchdog.captureStack` work hard. argv: directory, scenario, [count].
//   sourceMaps:  20 scripts, each ending with a 5 MB inline source map (100 MB in all);
//   manyScripts: 100,000 scripts, each named by a long sourceURL;
//   dumpers:     `count` dumpers, each with its own watchdog, see the same three stalls;
//   stalls:      one dumper, three stalls (the helper thread may be harmed in between by a
//                preload module: __test__/children/harm-helper.cjs);
//   largeHeap:   a 1.2 GB heap of small objects (measured for docs/blocked-loop-stacks.md;
//                not run by the suite, which must not depend on the machine's memory);
//   copies:      one dumper of each copy of the package in STACK_PACKAGES (directories
//                joined by the path delimiter), three stalls.
// Each stall is `blockFor` running JS for BLOCK_MS of its own time; the main thread's gaps
// (time taken from it: the capture's work on it, a GC, the system) are measured and
// printed, one JSON line per stall, then {"done":true}. The process exits by itself.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { delimiter } from 'node:path'
import v8 from 'node:v8'
import vm from 'node:vm'

const [dir, scenario, countArg] = process.argv.slice(2)
const require = createRequire(import.meta.url)
const packages = scenario === 'copies' ? process.env.STACK_PACKAGES.split(delimiter) : ['../../index.js']
const BLOCK_MS = 1200
const held = []

if (scenario === 'sourceMaps') {
  const payload = Buffer.alloc(((5 << 20) * 3) / 4, 'sourcemap').toString('base64')
  for (let i = 0; i < 20; i++) {
    const map = Buffer.from(JSON.stringify({ version: 3, sources: [`gen${i}.ts`], mappings: 'AAAA', sourcesContent: [payload] })).toString('base64')
    held.push(
      vm.runInThisContext(`(function generated${i}() { return ${i} })\n//# sourceMappingURL=data:application/json;base64,${map}`, { filename: `gen${i}.js` }),
    )
  }
} else if (scenario === 'manyScripts') {
  const long = `https://cdn.example.com/${'bundle/chunk/'.repeat(20)}`
  for (let i = 0; i < 100_000; i++) held.push(new Function(`return ${i}\n//# sourceURL=${long}module${i}.js`))
  for (const f of held) f()
} else if (scenario === 'largeHeap') {
  while (process.memoryUsage().heapUsed < 1.2 * 2 ** 30) {
    const chunk = new Array(100_000)
    for (let i = 0; i < chunk.length; i++) chunk[i] = { i, s: `x${i}` }
    held.push(chunk)
  }
}

const count = scenario === 'dumpers' ? Number(countArg) : packages.length
const dumpers = Array.from(
  { length: count },
  (_, i) =>
    new (require(packages[i % packages.length]).MemoryDiagnosticsDumper)({
      directory: `${dir}/${i}`,
      sessionId: `stack${i}`,
      cooldownMs: 0,
      maxDumpsPerSession: 10,
      recorder: { intervalMs: 50 },
      watchdog: { rssBytes: 1, stallMs: 300, captureStack: process.env.CAPTURE_STACK !== '0' },
    }),
)
for (const d of dumpers) d.observe(v8.getHeapStatistics(), process.memoryUsage())

function work(n) {
  let x = 0
  for (let i = 0; i < n; i++) x += i % 7
  return x
}

/** The main thread's time on a CPU, in ms (Linux): the part of a gap it spent working. */
const cpuMs = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e6
const MEASURE_CPU = process.env.MEASURE_CPU === '1'

/**
 * Runs JS for `ms` of the main thread's own time; returns what was taken from it: gaps
 * over 2 ms (their sum and the longest) and, with MEASURE_CPU=1, the main thread's CPU
 * time within gaps over 0.5 ms (work done on it that was not ours: a capture, a GC), which
 * the system's other load does not change.
 */
function blockFor(ms) {
  let gaps = 0
  let maxGap = 0
  let cpuTaken = 0
  let maxCpuTaken = 0
  let prev = performance.now()
  let prevCpu = MEASURE_CPU ? cpuMs() : 0
  const start = prev
  while (prev - start - gaps < ms) {
    work(2000)
    const now = performance.now()
    const cpu = MEASURE_CPU ? cpuMs() : 0
    if (now - prev > 2) {
      gaps += now - prev
      maxGap = Math.max(maxGap, now - prev)
    }
    if (MEASURE_CPU && now - prev > 0.5) {
      cpuTaken += cpu - prevCpu
      maxCpuTaken = Math.max(maxCpuTaken, cpu - prevCpu)
    }
    prev = now
    prevCpu = cpu
  }
  const taken = MEASURE_CPU ? { cpuTakenMs: +cpuTaken.toFixed(1), maxCpuTakenMs: +maxCpuTaken.toFixed(1) } : {}
  return { wallMs: Math.round(prev - start), gapMs: Math.round(gaps), maxGapMs: Math.round(maxGap), ...taken }
}

const stalls = ['dumpers', 'stalls', 'copies'].includes(scenario) ? 3 : 1
let n = 0
function next() {
  // The loop turns between stalls: heartbeats, and a helper thread that ended is replaced.
  setTimeout(() => {
    for (const d of dumpers) d.observe()
    process.stdout.write(`${JSON.stringify({ stall: n, ...blockFor(BLOCK_MS) })}\n`)
    if (++n < stalls) next()
    // The last watchdog dump waits at most the budget (1 s) for its stack, then is written.
    else setTimeout(() => process.stdout.write(`${JSON.stringify({ done: true })}\n`), 1200)
  }, 600)
}
next()
