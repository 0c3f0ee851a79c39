// A host with the real OpenTelemetry JS SDK: its meter exported by the SDK's Prometheus
// exporter on 127.0.0.1:argv[4] (a Prometheus server scrapes it), its log records appended,
// one JSON line each, to argv[5] as the SDK exports them (synchronously, so that a kernel
// OOM kill loses none). At start it asks how the previous run ended (previousRun, with the
// logger), then: `v8` grows its heap to a V8 OOM (dumps at 60% and 80% of the old space),
// `kernel` grows Buffers in its memory cgroup of argv[6] bytes (dumps at 50% and 75%),
// `stall` blocks its event loop in pollUntilReady for 1.5 s under a watchdog that captures the
// stack, then exits, and `start` only asks and exits.
import { appendFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const require = createRequire(import.meta.url)
const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus')
const { MeterProvider } = require('@opentelemetry/sdk-metrics')
const { LoggerProvider, SimpleLogRecordProcessor } = require('@opentelemetry/sdk-logs')
const { MemoryDiagnosticsDumper, previousRun } = require('../../index.js')
const [directory, mode, port, logFile, limitArg] = process.argv.slice(2)

/** The SDK's log records as JSON lines (a LogRecordExporter of the SDK's interface). */
const fileExporter = {
  export(records, done) {
    for (const r of records)
      appendFileSync(
        logFile,
        `${JSON.stringify({ eventName: r.eventName, severityText: r.severityText, severityNumber: r.severityNumber, body: r.body, attributes: r.attributes, scope: r.instrumentationScope.name })}\n`,
      )
    done({ code: 0 })
  },
  shutdown: async () => {},
}
const logs = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: fileExporter })] })
// OTEL_HOSTILE=1: a logger that throws a value that throws itself when anything reads it.
const P = new Proxy(
  {},
  {
    get() {
      throw P
    },
    getPrototypeOf() {
      throw P
    },
  },
)
const logger =
  process.env.OTEL_HOSTILE === '1'
    ? {
        emit() {
          throw P
        },
      }
    : logs.getLogger('memory-diagnostics-dumper')
const metrics = new MeterProvider({ readers: [new PrometheusExporter({ host: '127.0.0.1', port: Number(port) })] })
const meter = metrics.getMeter('memory-diagnostics-dumper')

const last = previousRun({ directory, telemetry: { logger } })
if (last?.line) process.stderr.write(`${last.line}\n`)
if (mode === 'start') process.exit(0)

export const dumper = new MemoryDiagnosticsDumper({
  directory,
  sessionId: `otel-${mode}`,
  cooldownMs: 0,
  recorder: { intervalMs: mode === 'stall' ? 50 : 250 },
  ...(mode === 'stall' ? { watchdog: { rssBytes: 1, stallMs: 300, captureStack: true } } : {}),
  telemetry: { meter, logger },
})
const fired = new Set()
const held = []
const at = (level, share, value, limit) => {
  if (value >= share * limit && !fired.has(level)) {
    fired.add(level)
    void dumper.dump(level)
  }
}
process.stdout.write('ready\n')
function pollUntilReady(end) {
  let spins = 0
  while (Date.now() < end) spins++
  return spins
}
if (mode === 'stall') {
  dumper.observe()
  // The stack helper starts on a later turn; then the loop is blocked, and freed to hear of the dump.
  setTimeout(() => {
    dumper.observe()
    pollUntilReady(Date.now() + 1500)
    setTimeout(() => process.exit(0), 500)
  }, 300)
} else if (mode === 'v8') {
  const oldSpace = Number(process.execArgv.map((a) => /^--max-old-space-size=(\d+)$/.exec(a)).find(Boolean)[1]) * 2 ** 20
  // About 3 MiB of objects every 60 ms: several scrapes before the end.
  const grow = () => {
    const h = v8.getHeapStatistics()
    dumper.observe(h, process.memoryUsage())
    at('hard', 0.6, h.used_heap_size, oldSpace)
    at('critical', 0.8, h.used_heap_size, oldSpace)
    const chunk = []
    for (let i = 0; i < 20_000; i++) chunk.push({ i, text: `entry ${i} `.repeat(2) })
    held.push(chunk)
    setTimeout(grow, 60)
  }
  grow()
} else {
  const limit = Number(limitArg)
  const grow = () => {
    held.push(Buffer.alloc(4 << 20, 7))
    dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
    const rss = process.memoryUsage().rss
    at('hard', 0.5, rss, limit)
    at('critical', 0.75, rss, limit)
    setTimeout(grow, 60)
  }
  grow()
}
