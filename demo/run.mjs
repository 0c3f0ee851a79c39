// `npm run demo`: drives a real Node process into a V8 heap out-of-memory crash while
// its monitor calls the dumper, then shows that the dumps survived the crash.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const runDir = join(root, 'demo-output', new Date().toISOString().replace(/[:.]/g, '-'))
mkdirSync(runDir, { recursive: true })
const diagnostics = join(runDir, 'diagnostics') // the addon creates it, mode 0700
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`

const kernelMode = process.argv.includes('--kernel-oom')
const LIMIT = 256 * 2 ** 20

/** A memory cgroup for the kernel-OOM mode (v1 or v2), or why there is none. */
function makeCgroup() {
  for (const [base, limitFile] of [
    ['/sys/fs/cgroup/memory', 'memory.limit_in_bytes'],
    ['/sys/fs/cgroup', 'memory.max'],
  ]) {
    if (!existsSync(join(base, limitFile === 'memory.max' ? 'cgroup.controllers' : limitFile))) continue
    const dir = join(base, `mdd-demo-${process.pid}`)
    try {
      mkdirSync(dir)
      writeFileSync(join(dir, limitFile), String(LIMIT))
      return { dir }
    } catch (e) {
      return { reason: `cannot create a memory cgroup under ${base} (${e.code ?? e.message}); run as root` }
    }
  }
  return { reason: 'no cgroup memory controller is mounted' }
}

console.log(`memory-diagnostics-dumper demo${kernelMode ? ' (kernel OOM mode)' : ''}`)
let child
let cgroup
if (kernelMode) {
  cgroup = makeCgroup()
  if (cgroup.reason) {
    console.error(`The kernel-OOM demo needs a memory cgroup: ${cgroup.reason}.`)
    process.exit(1)
  }
  console.log(`Starting a Node child in a ${LIMIT / 2 ** 20} MiB memory cgroup that keeps allocating Buffers.`)
  console.log(`Its monitor dumps at 50% and 75% of the limit into ${relative(root, diagnostics)}/; the flight recorder samples every 100 ms.\n`)
  child = spawn(
    'sh',
    ['-c', 'echo $$ > "$0" && exec "$@"', join(cgroup.dir, 'cgroup.procs'), process.execPath, join(root, 'demo/grow-native.mjs'), diagnostics, String(LIMIT)],
    {
      stdio: ['ignore', 'inherit', 'pipe'],
    },
  )
} else {
  console.log(`Starting a Node child with --max-old-space-size=128 that keeps retaining memory.`)
  console.log(`Its monitor dumps at hard and critical pressure into ${relative(root, diagnostics)}/; the flight recorder samples every 100 ms.\n`)
  child = spawn(process.execPath, ['--max-old-space-size=128', join(root, 'demo/child.mjs'), diagnostics], {
    stdio: ['ignore', 'inherit', 'pipe'],
  })
}
const started = Date.now()
let stderr = ''
child.stderr.on('data', (d) => (stderr += d))
const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])))
const diedAt = Date.now()
if (cgroup?.dir) {
  for (let i = 0; i < 50 && existsSync(cgroup.dir); i++) {
    try {
      rmdirSync(cgroup.dir)
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

const oom = kernelMode ? signal === 'SIGKILL' : /JavaScript heap out of memory/.test(stderr)
console.log(
  `\nThe child died after ${((diedAt - started) / 1000).toFixed(1)} s: ${signal ? `signal ${signal}` : `exit code ${code}`}` +
    (oom ? (kernelMode ? ' (the kernel OOM killer)' : ' (V8: "JavaScript heap out of memory")') : ''),
)
if (!oom) console.log(stderr.split('\n').slice(0, 5).join('\n'))

// The flight recorder's file: one JSON line per sample, no exit record after a crash.
const recorderName = existsSync(diagnostics) ? readdirSync(diagnostics).find((f) => /^recorder-.*\.jsonl$/.test(f)) : undefined
if (recorderName) {
  const lines = readFileSync(join(diagnostics, recorderName), 'utf8').split('\n').filter(Boolean)
  const records = lines.flatMap((l) => {
    try {
      return [JSON.parse(l)]
    } catch {
      return [] // a torn last line, if the death came mid-write
    }
  })
  const samples = records.filter((r) => r.type === 'sample')
  const last = samples.at(-1)
  console.log(
    `\nFlight recorder (${relative(root, join(diagnostics, recorderName))}): ${samples.length} samples, ${records.some((r) => r.type === 'exit') ? 'with' : 'no'} exit record`,
  )
  if (last) {
    console.log(`  last sample ${diedAt - last.epochMs} ms before the death; RSS over time:`)
    const step = Math.max(1, Math.floor(samples.length / 6))
    const picked = samples.filter((_, i) => i % step === 0 || i === samples.length - 1)
    console.log('  ' + picked.map((s) => `${mib(s.rssBytes)}`).join(' → '))
  }
}

let files = []
try {
  files = readdirSync(diagnostics)
    .filter((f) => /^memory-.*\.json$/.test(f))
    .sort()
} catch {
  /* reported below */
}
console.log(`\nSurviving dump files (${files.length}):`)
let valid = 0
for (const f of files) {
  const path = join(diagnostics, f)
  try {
    const doc = JSON.parse(readFileSync(path, 'utf8'))
    valid++
    const h = doc.atTrigger.v8HeapStats
    // Against the old space the child was started with (what its monitor measures), and V8's
    // heap limit beside it (which adds the young generation's reservation).
    const pct = kernelMode
      ? `${((h.usedHeapSize / h.heapSizeLimit) * 100).toFixed(0)}%`
      : `${((h.usedHeapSize / (128 * 2 ** 20)) * 100).toFixed(0)}% of the 128 MiB old space`
    const top = doc.analysis?.risks?.[0]
    console.log(
      `  #${doc.dumpNumber} ${doc.trigger.padEnd(8)} heap ${mib(h.usedHeapSize)} / ${mib(h.heapSizeLimit)} (${pct})` +
        `, RSS ${mib(doc.atTrigger.memoryUsage.rss)}, ${doc.collectionComplete ? `complete (phase 2 in ${doc.collection.phase2Millis} ms)` : 'phase 1 only'}`,
    )
    if (top) console.log(`     top risk: ${top.message}`)
    console.log(`     ${relative(root, path)}`)
  } catch (e) {
    console.log(`  ${f}: INVALID (${e.message})`)
  }
}

// What a maintainer who receives these files would run.
console.log(
  `\n$ npx memory-diagnostics-dumper inspect ${relative(root, diagnostics)} --svg ${relative(root, join(runDir, 'timeline.svg'))} --html ${relative(root, join(runDir, 'timeline.html'))}`,
)
const cli = join(root, 'bin/memory-diagnostics-dumper.js')
const inspected = spawnSync(process.execPath, [cli, 'inspect', diagnostics, '--svg', join(runDir, 'timeline.svg'), '--html', join(runDir, 'timeline.html')], {
  encoding: 'utf8',
})
process.stdout.write(inspected.stdout.replace(/^/gm, '  '))
console.log(`  (timeline: ${relative(root, join(runDir, 'timeline.svg'))}, ${relative(root, join(runDir, 'timeline.html'))})`)

// Which code grew: the allocation sites of the child's two dumps (options.allocationProfile).
let leaking = null
if (!kernelMode) {
  try {
    const j = JSON.parse(spawnSync(process.execPath, [cli, 'inspect', diagnostics, '--json'], { encoding: 'utf8' }).stdout)
    const blame = j.processes.at(-1)?.verdict.growth.bySite?.groups?.[0]?.blame
    if (blame) leaking = `${blame.function} (${relative(root, blame.script.replace(/^file:\/\//, ''))}:${blame.line})`
  } catch {}
}

// What the next start of the program prints (previousRun), once.
const { previousRun } = createRequire(import.meta.url)('../index.js')
const last = previousRun({ directory: diagnostics })
if (last?.line) console.log(`\nThe next start of the program prints, once:\n  ${last.line}`)

if (oom && valid > 0 && valid === files.length && inspected.status === 0 && (kernelMode || leaking)) {
  console.log(`\nThe process crashed; ${valid} dump file(s) and the recorder's trajectory survived and parse as JSON.`)
  if (leaking) console.log(`The code that leaked: ${leaking}.`)
} else {
  console.error(
    `\nDemo failed: ${!oom ? 'the child did not die of out-of-memory' : valid !== files.length || !valid ? `${valid} of ${files.length} dump files are valid` : 'the leaking function was not named'}.`,
  )
  process.exit(1)
}
