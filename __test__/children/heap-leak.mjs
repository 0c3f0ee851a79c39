// A process with a JS-heap leak: `count` objects of class LeakedSessionRecord, each holding
// a string value that starts with the canary. Then it dumps with a heap snapshot and prints
// each dump's result as JSON, one per line.
// argv: dir, count, canary, options JSON (merged into heapSnapshot), triggers ("critical,critical")
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')

const [dir, count, canary, extra, triggers, sessions] = process.argv.slice(2)

class LeakedSessionRecord {
  constructor(i) {
    this.transcript = `${canary}-${i}-${'x'.repeat(40)}`
    this.turn = i
  }
}
// A pattern built from the secret, as code that scrubs a secret from its output builds it.
globalThis.scrubber = new RegExp(`${canary}-[0-9]+`, 'g')
globalThis.leak = []
for (let i = 0; i < Number(count); i++) globalThis.leak.push(new LeakedSessionRecord(i))

const dumper = new MemoryDiagnosticsDumper({
  directory: dir,
  sessionId: 'leaky',
  cooldownMs: 0,
  maxDumpsPerSession: 10,
  heapSnapshot: { triggers: ['critical'], ...JSON.parse(extra || '{}') },
})
for (let s = 0; s < Number(sessions || 1); s++) {
  if (s > 0) dumper.resetForNewSession(`leaky${s}`)
  for (const trigger of (triggers || 'critical').split(',')) {
    const result = await dumper.dump(trigger, { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
    console.log(JSON.stringify(result))
  }
}
console.log(JSON.stringify({ alive: true, leaked: globalThis.leak.length }))
