// `npm run demo`: drives a real Node process into a V8 heap out-of-memory crash while
// its monitor calls the dumper, then shows that the dumps survived the crash.
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const runDir = join(root, 'demo-output', new Date().toISOString().replace(/[:.]/g, '-'))
mkdirSync(runDir, { recursive: true })
const diagnostics = join(runDir, 'diagnostics') // the addon creates it, mode 0700
const mib = (b) => `${(b / 2 ** 20).toFixed(1)} MiB`

console.log('memory-diagnostics-dumper demo')
console.log(`Starting a Node child with --max-old-space-size=128 that keeps retaining memory.`)
console.log(`Its monitor dumps at hard and critical pressure into ${relative(root, diagnostics)}/\n`)

const started = Date.now()
const child = spawn(process.execPath, ['--max-old-space-size=128', join(root, 'demo/child.mjs'), diagnostics], {
  stdio: ['ignore', 'inherit', 'pipe'],
})
let stderr = ''
child.stderr.on('data', (d) => (stderr += d))
const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])))

const oom = /JavaScript heap out of memory/.test(stderr)
console.log(
  `\nThe child died after ${((Date.now() - started) / 1000).toFixed(1)} s: ${signal ? `signal ${signal}` : `exit code ${code}`}` +
    (oom ? ' (V8: "JavaScript heap out of memory")' : ''),
)
if (!oom) console.log(stderr.split('\n').slice(0, 5).join('\n'))

let files = []
try {
  files = readdirSync(diagnostics).filter((f) => /^memory-.*\.json$/.test(f)).sort()
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
    const pct = ((h.usedHeapSize / h.heapSizeLimit) * 100).toFixed(0)
    const top = doc.analysis?.risks?.[0]
    console.log(
      `  #${doc.dumpNumber} ${doc.trigger.padEnd(8)} heap ${mib(h.usedHeapSize)} / ${mib(h.heapSizeLimit)} (${pct}%)` +
        `, RSS ${mib(doc.atTrigger.memoryUsage.rss)}, ${doc.collectionComplete ? `complete (phase 2 in ${doc.collection.phase2Millis} ms)` : 'phase 1 only'}`,
    )
    if (top) console.log(`     top risk: ${top.message}`)
    console.log(`     ${relative(root, path)}`)
  } catch (e) {
    console.log(`  ${f}: INVALID (${e.message})`)
  }
}

if (oom && valid > 0 && valid === files.length) {
  console.log(`\nThe process crashed; ${valid} dump file(s) survived and parse as complete JSON.`)
} else {
  console.error(`\nDemo failed: ${!oom ? 'the child did not die of heap OOM' : `${valid} of ${files.length} dump files are valid`}.`)
  process.exit(1)
}
