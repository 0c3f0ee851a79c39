// The cost of telemetry (docs/telemetry.md), in one process with the real OpenTelemetry SDK:
// the meter's collection with a dumper's gauges against the same collection without them
// (the JS-thread time the host's metric reader spends in this package per export), and the
// JS-thread time of one dump's log record (its document read, parsed and redacted), with and
// without the document in the body. Medians; prints one JSON line.
import { mkdtempSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const { MeterProvider, MetricReader } = require('@opentelemetry/sdk-metrics')
const { MemoryDiagnosticsDumper } = require('../index.js')
const { dumpRecord } = require('../lib/dumper/telemetry.js')
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const rounds = Number(process.argv[2] ?? 200)
class Reader extends MetricReader {
  async onForceFlush() {}
  async onShutdown() {}
}
const dir = mkdtempSync(join(tmpdir(), 'mdd-telemetry-'))
const time = async (f) => {
  const t = process.hrtime.bigint()
  await f()
  return Number(process.hrtime.bigint() - t) / 1000
}
const setup = (withDumper) => {
  const reader = new Reader()
  const provider = new MeterProvider({ readers: [reader] })
  const d = withDumper
    ? new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'bench', recorder: { intervalMs: 100 }, telemetry: { meter: provider.getMeter('bench') } })
    : null
  return { reader, d }
}
const a = setup(false)
const b = setup(true)
await new Promise((r) => setTimeout(r, 300))
const without = []
const withGauges = []
for (let i = 0; i < rounds; i++) {
  without.push(await time(() => a.reader.collect()))
  withGauges.push(await time(() => b.reader.collect()))
}
const docDumper = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'doc', cooldownMs: 0 })
const r = await docDumper.dump('hard')
const summary = []
const full = []
for (let i = 0; i < rounds; i++) {
  summary.push(await time(() => dumpRecord(r, 0)))
  full.push(await time(() => dumpRecord(r, 256 * 1024)))
}
b.d.close()
docDumper.close()
// A recorder may still be writing its exit record as the directory goes: retried, never fatal.
try {
  rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 })
} catch {}
console.log(
  JSON.stringify({
    rounds,
    collectUs: median(without),
    collectWithGaugesUs: median(withGauges),
    recordUs: median(summary),
    recordWithDocumentUs: median(full),
  }),
)
