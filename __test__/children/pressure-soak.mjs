// A soak for the pressure rule's false alarms: a host at rest, or one whose heap grows and
// shrinks inside its limit (a sawtooth to about 60% of V8's heap limit), with the recorder
// sampling every argv[4] ms for argv[3] seconds. argv: directory, rest | heap, seconds,
// intervalMs. Prints one JSON line: the samples taken, the dumps by trigger and the highest
// share of V8's heap limit the heap reached.
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import v8 from 'node:v8'

const require = createRequire(import.meta.url)
const { MemoryDiagnosticsDumper } = require('../../index.js')
const [dir, mode, secondsText, intervalText] = process.argv.slice(2)
const dumper = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'soak', recorder: { intervalMs: Number(intervalText), samples: 10 } })
const limit = v8.getHeapStatistics().heap_size_limit
let held = []
let peak = 0
const work =
  mode === 'heap'
    ? setInterval(() => {
        const used = v8.getHeapStatistics().used_heap_size
        peak = Math.max(peak, used / limit)
        if (used > 0.6 * limit) held = []
        else for (let i = 0; i < 2000; i++) held.push({ i, s: `item ${i} ${held.length}`, a: [i, i + 1] })
        dumper.observe()
      }, 5)
    : null
setTimeout(() => {
  if (work) clearInterval(work)
  dumper.close()
  const triggers = {}
  for (const f of readdirSync(dir).filter((n) => n.startsWith('memory-') && n.endsWith('.json'))) {
    const t = JSON.parse(readFileSync(join(dir, f), 'utf8')).trigger
    triggers[t] = (triggers[t] ?? 0) + 1
  }
  const trail = readdirSync(dir).filter((n) => n.startsWith('recorder-'))
  const samples = trail.flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n')).filter((l) => l.includes('"type":"sample"')).length
  console.log(JSON.stringify({ mode, samples, triggers, peakHeapShare: peak }))
}, Number(secondsText) * 1000)
