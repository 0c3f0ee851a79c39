// The evidence in the host's own telemetry (issue 37, docs/telemetry.md), with real parts:
// the OpenTelemetry JS SDK (metrics and logs), its Prometheus exporter, and a real Prometheus
// server that scrapes it on a loopback port while a host dies of a V8 heap OOM and of a
// kernel OOM kill. The series carry the recorder's own figures, each dump is one log record
// (redacted as bundle redacts), and the next start sends the last death as one record.
// Without a `prometheus` binary the scrape tests skip and say why; `.ci/run`'s Prometheus leg
// installs it and sets PROMETHEUS_REQUIRED=1, which turns a skip into a failure.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { implementations, makeMemoryCgroup, root, scratch } from './helpers.js'

const require = createRequire(import.meta.url)
const { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } = require('@opentelemetry/sdk-metrics')
const { LoggerProvider, SimpleLogRecordProcessor, InMemoryLogRecordExporter } = require('@opentelemetry/sdk-logs')
const MIB = 2 ** 20
const INTERVAL_MS = 250
const host = join(root, '__test__/children/otel-host.mjs')
const cli = join(root, 'bin/memory-diagnostics-dumper.js')

const prometheusBinary = spawnSync('prometheus', ['--version'], { encoding: 'utf8' }).status === 0 ? 'prometheus' : null
const noPrometheus = prometheusBinary ? null : 'no prometheus binary on PATH (Debian: apt-get install prometheus; .ci/run installs it)'
if (noPrometheus) {
  if (process.env.PROMETHEUS_REQUIRED === '1') throw new Error(`PROMETHEUS_REQUIRED=1 but ${noPrometheus}`)
  console.log(`skipped the Prometheus tests: ${noPrometheus}`)
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** A Prometheus server on a loopback port that scrapes `target` every INTERVAL_MS. */
async function startPrometheus(target: number): Promise<{ port: number; proc: ChildProcess; stop(): Promise<void> }> {
  const dir = scratch('prometheus')
  const port = await freePort()
  writeFileSync(
    join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: ${INTERVAL_MS}ms\n  scrape_timeout: ${INTERVAL_MS - 50}ms\nscrape_configs:\n  - job_name: host\n    static_configs:\n      - targets: ['127.0.0.1:${target}']\n`,
  )
  const proc = spawn(
    prometheusBinary!,
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  let err = ''
  proc.stderr!.on('data', (d) => (err += d))
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok) break
    } catch {}
    if (i > 200 || proc.exitCode !== null) throw new Error(`prometheus did not start: ${err.slice(0, 500)}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  // Its discovery hands targets to the scrape manager every 5 s: wait until ours is one.
  for (let i = 0; ; i++) {
    const j: any = await (await fetch(`http://127.0.0.1:${port}/api/v1/targets`)).json()
    if (j.data.activeTargets.length === 1) break
    if (i > 300) throw new Error('prometheus never took the scrape target')
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    port,
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve()
        proc.on('exit', () => resolve())
        proc.kill('SIGTERM')
      }),
  }
}

/** Every scraped sample of `metric` in the last 10 minutes: `[epoch ms, value]`, with its labels. */
async function series(promPort: number, metric: string): Promise<{ labels: Record<string, string>; points: [number, number][] }[]> {
  const url = `http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(`${metric}[10m]`)}`
  const j: any = await (await fetch(url)).json()
  expect(j.status).toBe('success')
  return j.data.result.map((r: any) => ({ labels: r.metric, points: r.values.map(([t, v]: [number, string]) => [Math.round(t * 1000), Number(v)]) }))
}

const trailSamples = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /^recorder-.*\.jsonl$/.test(f))
    .flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((r) => r.type === 'sample'),
    )
const dumpsOf = (dir: string) =>
  readdirSync(dir)
    .filter((f) => /^memory-.*\.json$/.test(f))
    .map((f) => ({ name: f, doc: JSON.parse(readFileSync(join(dir, f), 'utf8')) }))
const records = (file: string) =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : []

/** A home directory with a user name in it, planted for the run: nothing of it may leave. */
function plantedHome() {
  const home = join(scratch('otel-home'), 'home', 'carol-secret')
  mkdirSync(home, { recursive: true })
  return home
}

/** Runs the host to its death with Prometheus scraping it; the next start's records too. */
async function dieWhileScraped(mode: 'v8' | 'kernel', wrap: (argv: string[]) => string[], extraArgs: string[] = []) {
  const home = plantedHome()
  const dir = join(home, '.diag')
  const logFile = join(scratch('otel-logs'), 'logs.jsonl')
  const target = await freePort()
  const prom = await startPrometheus(target)
  try {
    const argv = wrap([process.execPath, ...(mode === 'v8' ? ['--max-old-space-size=96'] : []), host, dir, mode, String(target), logFile, ...extraArgs])
    const child = spawn(argv[0], argv.slice(1), { env: { ...process.env, HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])))
    const scraped = {
      rss: await series(prom.port, 'process_memory_usage'),
      age: await series(prom.port, 'memory_diagnostics_sample_age'),
      cgroup: await series(prom.port, 'container_memory_usage'),
      limit: await series(prom.port, 'memory_diagnostics_memory_limit'),
      heap: await series(prom.port, 'v8js_memory_heap_used'),
    }
    // The next start, with the same logger: the last death as one record.
    const next = spawnSync(process.execPath, [host, dir, 'start', String(await freePort()), logFile], {
      encoding: 'utf8',
      env: { ...process.env, HOME: home },
      timeout: 30_000,
    })
    expect(next.status, next.stderr).toBe(0)
    return { home, dir, logFile, code, signal, stderr, scraped, nextStderr: next.stderr }
  } finally {
    await prom.stop()
  }
}

/** What every run checks: the series are the recorder's figures, one record per dump, redacted, the death once. */
function checkRun(r: Awaited<ReturnType<typeof dieWhileScraped>>) {
  const samples = trailSamples(r.dir)
  const dumps = dumpsOf(r.dir)
  expect(dumps.length).toBeGreaterThanOrEqual(2)
  // Scraped while it lived: at least a few scrapes, each a sample the trail holds, exactly.
  expect(r.scraped.rss).toHaveLength(1)
  const rss = r.scraped.rss[0].points
  expect(rss.length).toBeGreaterThanOrEqual(3)
  const byRss = new Map(samples.map((s: any) => [s.rssBytes, s]))
  for (const [, v] of rss) expect(byRss.has(v), `scraped RSS ${v} is no sample of the trail`).toBe(true)
  // Each was the newest sample when the meter read it: at most one recorder interval old
  // (and one more for the meter's read to be scheduled on a busy machine).
  const ages = r.scraped.age[0].points.map(([, a]) => a)
  expect(ages.length).toBe(rss.length)
  for (const a of ages) expect(a).toBeLessThanOrEqual(2 * INTERVAL_MS)
  // The series carry what the dumps recorded: scraped values before the last dump are samples of its history.
  const last = dumps.sort((a, b) => a.doc.dumpNumber - b.doc.dumpNumber).at(-1)!
  const history = new Set((last.doc.history ?? []).map((s: any) => s.rssBytes))
  const before = rss.filter(([t]) => t < Date.parse(last.doc.timestamp))
  expect(before.filter(([, v]) => history.has(v)).length).toBeGreaterThanOrEqual(2)
  // One record per dump, with what its document says, the file named with the home as ~.
  const logs = records(r.logFile)
  const dumpRecords = logs.filter((l) => l.eventName === 'memory_diagnostics.dump')
  expect(dumpRecords.map((l) => l.attributes['memory_diagnostics.dump.number']).sort()).toEqual(dumps.map((d) => d.doc.dumpNumber).sort())
  for (const d of dumps) {
    const l = dumpRecords.find((x) => x.attributes['memory_diagnostics.dump.number'] === d.doc.dumpNumber)
    expect(l.attributes['memory_diagnostics.trigger']).toBe(d.doc.trigger)
    expect(l.attributes['file.path']).toBe(`~/.diag/${d.name}`)
    expect(l.attributes['memory_diagnostics.risk.top']).toBe(d.doc.analysis.risks[0]?.type)
    if (d.doc.analysis.growth?.label) expect(l.attributes['memory_diagnostics.growth.kind']).toBe(d.doc.analysis.growth.label)
    expect(l.scope).toBe('memory-diagnostics-dumper')
  }
  // The next start: one record of the death, with inspect's verdict; nothing of the home leaves.
  const prev = logs.filter((l) => l.eventName === 'memory_diagnostics.previous_run')
  expect(prev).toHaveLength(1)
  const v = JSON.parse(spawnSync(process.execPath, [cli, 'inspect', r.dir, '--json'], { encoding: 'utf8' }).stdout).processes.find(
    (p: any) => p.verdict.outcome === 'crashed',
  )
  expect(prev[0]).toMatchObject({ severityText: 'ERROR', attributes: { 'memory_diagnostics.died': true, 'memory_diagnostics.outcome': 'crashed' } })
  expect(prev[0].attributes['memory_diagnostics.cause.kind'] ?? null).toBe(v.verdict.cause?.kind ?? null)
  expect(prev[0].attributes['memory_diagnostics.previous.pid']).toBe(v.pid)
  expect(prev[0].attributes['memory_diagnostics.bundle_command']).toMatch(/^npx memory-diagnostics-dumper bundle ~\/\.diag --pid \d+@\d+$/)
  expect(prev[0].body).toBe(r.nextStderr.trim())
  expect(readFileSync(r.logFile, 'utf8')).not.toContain('carol-secret')
  return { samples, dumps }
}

describe('telemetry through a real Prometheus server', () => {
  it.skipIf(noPrometheus !== null)(
    "a V8 heap OOM: the scraped series are the recorder's samples, each dump a record, the death reported at the next start",
    async () => {
      const r = await dieWhileScraped('v8', (a) => a)
      expect(r.stderr).toMatch(/JavaScript heap out of memory|Reached heap limit/)
      const { samples } = checkRun(r)
      // V8's heap, from the figures the host observed (the trail's) once a sample has them;
      // before that, V8's figures of the moment the meter reads (docs/telemetry.md).
      const firstObserved = samples.find((s: any) => s.heapUsedBytes != null).epochMs
      const heap = r.scraped.heap[0].points.filter(([t]) => t > firstObserved + 2 * INTERVAL_MS)
      expect(heap.length).toBeGreaterThanOrEqual(2)
      const heaps = new Set(samples.map((s: any) => s.heapUsedBytes))
      for (const [, v] of heap) expect(heaps.has(v)).toBe(true)
    },
    120_000,
  )

  const cg = makeMemoryCgroup(192 * MIB, 'otel')
  if (typeof cg === 'string') console.log(`skipped the telemetry kernel-OOM test: ${cg}`)
  it.skipIf(noPrometheus !== null || typeof cg === 'string')(
    'a kernel OOM kill in a 192 MiB cgroup: the container series and the limit with its source, the records of a SIGKILLed host',
    async () => {
      const group = cg as Exclude<typeof cg, string>
      try {
        const r = await dieWhileScraped('kernel', (a) => ['sh', '-c', 'echo $$ > "$0" && exec "$@"', join(group.dir, 'cgroup.procs'), ...a], [
          String(192 * MIB),
        ])
        expect(r.signal).toBe('SIGKILL')
        const { samples } = checkRun(r)
        const cgroup = new Set(samples.map((s: any) => s.cgroupUsageBytes))
        for (const [, v] of r.scraped.cgroup[0].points) expect(cgroup.has(v)).toBe(true)
        expect(r.scraped.limit).toHaveLength(1)
        expect(r.scraped.limit[0].labels.memory_diagnostics_limit_source).toBe('cgroup')
        for (const [, v] of r.scraped.limit[0].points) expect(v).toBe(192 * MIB)
      } finally {
        group.remove()
      }
    },
    120_000,
  )
})

describe('telemetry of a dump written while the event loop was blocked', () => {
  it('a watchdog dump is one record when the loop answers, naming the blocking function', async () => {
    const dir = scratch('otel-stall')
    const logFile = join(scratch('otel-stall-logs'), 'logs.jsonl')
    const r = spawnSync(process.execPath, [host, dir, 'stall', String(await freePort()), logFile], { encoding: 'utf8', timeout: 30_000 })
    expect(r.status, r.stderr).toBe(0)
    const watchdog = records(logFile).filter((l) => l.attributes['memory_diagnostics.trigger'] === 'watchdog')
    expect(watchdog).toHaveLength(1)
    expect(watchdog[0].severityText).toBe('ERROR')
    expect(watchdog[0].attributes['memory_diagnostics.stall.blocking_function']).toMatch(/^pollUntilReady \(otel-host\.mjs:\d+\)$/)
    expect(watchdog[0].attributes['memory_diagnostics.stall.ms']).toBeGreaterThanOrEqual(300)
    const dump = dumpsOf(dir).find((d) => d.doc.trigger === 'watchdog')!
    expect(watchdog[0].attributes['file.path']).toBe(join(dir, dump.name))
  })

  it('a logger that throws a value that throws itself, told of a watchdog dump from the recorder thread: the host runs on', async () => {
    const dir = scratch('otel-stall-hostile')
    const r = spawnSync(process.execPath, [host, dir, 'stall', String(await freePort()), join(scratch('otel-stall-hostile-logs'), 'l.jsonl')], {
      encoding: 'utf8',
      env: { ...process.env, OTEL_HOSTILE: '1' },
      timeout: 30_000,
    })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/telemetry: logger\.emit threw a value; that record was left out/)
    expect(dumpsOf(dir).filter((d) => d.doc.trigger === 'watchdog')).toHaveLength(1)
  })
})

describe('telemetry with the SDK in process, on both implementations', () => {
  let meters: any
  let logs: any
  beforeAll(() => {
    meters = { exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE) }
    meters.reader = new PeriodicExportingMetricReader({ exporter: meters.exporter, exportIntervalMillis: 3_600_000 })
    meters.provider = new MeterProvider({ readers: [meters.reader] })
    logs = { exporter: new InMemoryLogRecordExporter() }
    logs.provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logs.exporter })] })
  })
  afterAll(async () => {
    await meters.provider.shutdown()
    await logs.provider.shutdown()
  })
  const collect = async () => {
    meters.exporter.reset()
    await meters.reader.forceFlush()
    const out: Record<string, any[]> = {}
    for (const sm of meters.exporter.getMetrics().at(-1)?.scopeMetrics ?? []) for (const m of sm.metrics) out[m.descriptor.name] = m.dataPoints
    return out
  }

  it.each(implementations)(
    '$name: gauges and a counter; a record per dump with the document on request, within its size; closed, it stops',
    async ({ name, MemoryDiagnosticsDumper }) => {
      const dir = scratch(`otel-${name}`)
      const meter = meters.provider.getMeter(`mdd-${name}`)
      const logger = logs.provider.getLogger(`mdd-${name}`)
      const d = new MemoryDiagnosticsDumper({ directory: dir, recorder: { intervalMs: 100 }, telemetry: { meter, logger, documentBytes: 200_000 } })
      if (name === 'native') await new Promise((r) => setTimeout(r, 300))
      const r = await d.dump('hard', { session: { token: 'https://u:hunter2@example.com/x?key=secret' } } as any)
      expect(r.written).toBe(true)
      await new Promise((res) => setTimeout(res, 50))
      const m = await collect()
      expect(m['process.memory.usage'][0].value).toBeGreaterThan(10 * MIB)
      expect(m['v8js.memory.heap.used'][0].value).toBeGreaterThan(MIB)
      expect(m['memory_diagnostics.dumps'][0]).toMatchObject({ value: 1, attributes: { 'memory_diagnostics.trigger': 'hard' } })
      const rec = logs.exporter.getFinishedLogRecords().filter((l: any) => l.instrumentationScope.name === `mdd-${name}`)
      expect(rec).toHaveLength(1)
      expect(rec[0].attributes['file.path']).toBe(r.filePath)
      const body = JSON.parse(rec[0].body)
      expect(body.dumpNumber).toBe(1)
      // Redacted as bundle redacts: no credentials or query of a URL the host put in.
      expect(rec[0].body).not.toContain('hunter2')
      expect(rec[0].body).not.toContain('key=secret')
      // Over documentBytes, the body is the one-line summary and says why.
      const small = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'small', telemetry: { logger, documentBytes: 100 } })
      await small.dump('critical')
      await new Promise((res) => setTimeout(res, 50))
      const last = logs.exporter.getFinishedLogRecords().at(-1)
      expect(last.body).toMatch(/^memory-diagnostics-dumper wrote dump #1 \(critical\): /)
      expect(last.attributes['memory_diagnostics.document.omitted']).toMatch(/over telemetry\.documentBytes \(100\)/)
      small.close()
      // Closed, the dumper observes nothing more: the gauge keeps its last value whatever the process does.
      const before = (await collect())['memory_diagnostics.sample.age'][0].value
      d.close()
      await new Promise((res) => setTimeout(res, 250))
      const after = await collect()
      expect(after['memory_diagnostics.sample.age'][0].value).toBe(before)
    },
  )

  it.each(implementations)(
    '$name: bad telemetry options are InvalidArg naming the field; a throwing meter or logger costs the host nothing',
    async ({ name, MemoryDiagnosticsDumper }) => {
      const dir = scratch(`otel-bad-${name}`)
      const bad = (telemetry: any) => () => new MemoryDiagnosticsDumper({ directory: dir, telemetry })
      expect(bad(5)).toThrow(/options\.telemetry: expected an object/)
      expect(bad({})).toThrow(/options\.telemetry: expected a meter or a logger/)
      expect(bad({ meter: {} })).toThrow(/options\.telemetry\.meter: expected a Meter/)
      expect(bad({ logger: { emit: 1 } })).toThrow(/options\.telemetry\.logger: expected a Logger/)
      expect(bad({ logger: { emit() {} }, documentBytes: -1 })).toThrow(/options\.telemetry\.documentBytes: /)
      expect(bad({ logger: { emit() {} }, extra: 1 })).toThrow(/options\.telemetry\.extra: /)
      try {
        bad({ meter: {} })()
      } catch (e: any) {
        expect(e.code).toBe('InvalidArg')
      }
      const warnings: string[] = []
      const onWarning = (w: Error) => warnings.push(w.message)
      process.on('warning', onWarning)
      try {
        // Error classes of this implementation's own (each warning is said once per process).
        const Broke = { [`${name}MeterBroke`]: class extends Error {} }[`${name}MeterBroke`]
        const hostile = {
          meter: {
            createObservableGauge() {
              throw new Broke('meter-canary')
            },
            createCounter() {},
          },
          logger: {
            emit() {
              throw new Broke('logger-canary')
            },
          },
        }
        const d = new MemoryDiagnosticsDumper({ directory: dir, telemetry: hostile })
        const r = await d.dump('hard')
        expect(r.written).toBe(true)
        await new Promise((res) => setTimeout(res, 50))
        d.close()
      } finally {
        process.off('warning', onWarning)
      }
      expect(warnings.filter((w) => w.startsWith('telemetry: meter.createObservableGauge threw a ') && w.includes(`${name}MeterBroke`))).toHaveLength(1)
      expect(warnings.filter((w) => w.startsWith('telemetry: logger.emit threw a ') && w.includes(`${name}MeterBroke`))).toHaveLength(1)
      expect(warnings.join('\n')).not.toMatch(/canary/)
    },
  )

  it('nothing of telemetry or previousRun is loaded by require(), a dumper or a dump without them', () => {
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `const m = require(${JSON.stringify(join(root, 'index.js'))}); const d = new m.MemoryDiagnosticsDumper({ directory: ${JSON.stringify(scratch('otel-none'))}, recorder: {} }); d.dump('hard').then(() => { d.close(); process.stdout.write(JSON.stringify(Object.keys(require.cache))) })`,
      ],
      { encoding: 'utf8' },
    )
    const loaded: string[] = JSON.parse(r.stdout)
    expect(loaded.filter((f) => /telemetry|previous-run|opentelemetry|verdict/.test(f))).toEqual([])
  })

  it.each(implementations)(
    '$name: what an outside hostile pass found: thrown values that are no errors, a refused instrument, getters, a promise',
    async ({ name, MemoryDiagnosticsDumper }) => {
      const dir = scratch(`otel-hostile-${name}`)
      const warnings: string[] = []
      const onWarning = (w: Error) => warnings.push(w.message)
      const rejections: unknown[] = []
      const onRejection = (e: unknown) => rejections.push(e)
      process.on('warning', onWarning)
      process.on('unhandledRejection', onRejection)
      try {
        // A value that throws itself when anything reads it, thrown from the counter: dump() still resolves.
        const P: any = new Proxy(
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
        const real = meters.provider.getMeter(`hostile-${name}`)
        const meter = {
          createObservableGauge: (...a: any[]) => real.createObservableGauge(...a),
          createCounter: () => ({
            add() {
              throw P
            },
          }),
          addBatchObservableCallback: (...a: any[]) => real.addBatchObservableCallback(...a),
          removeBatchObservableCallback: (...a: any[]) => real.removeBatchObservableCallback(...a),
        }
        const d = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'hostile', cooldownMs: 0, telemetry: { meter } })
        const r = await d.dump('manual')
        expect(r.written).toBe(true)
        // The counter refused: the gauges are exported all the same (the native one without a recorder too).
        const m = await collect()
        expect(m['process.memory.usage']?.length).toBeGreaterThan(0)
        d.close()
        // A getter on the meter's method: InvalidArg naming the field, never the host's message.
        const getter = {
          get createObservableGauge(): any {
            throw new Error('CANARY-GETTER token=abc')
          },
          createCounter() {},
        }
        let e: any
        try {
          new MemoryDiagnosticsDumper({ directory: dir, telemetry: { meter: getter } })
        } catch (x) {
          e = x
        }
        expect(e.code).toBe('InvalidArg')
        expect(e.message).toBe('options.telemetry.meter.createObservableGauge: reading it threw (an Error)')
        // A logger whose emit returns a rejected promise leaves no unhandled rejection.
        const d2 = new MemoryDiagnosticsDumper({
          directory: dir,
          sessionId: 'async',
          cooldownMs: 0,
          telemetry: { logger: { emit: () => Promise.reject(new Error('async-canary')) } },
        })
        await d2.dump('manual')
        await new Promise((res) => setTimeout(res, 50))
        d2.close()
      } finally {
        process.off('warning', onWarning)
        process.off('unhandledRejection', onRejection)
      }
      expect(rejections).toEqual([])
      expect(warnings.join('\n')).not.toMatch(/CANARY|canary/)
    },
  )

  it('a polluted Object.prototype.telemetry is no option; dropped dumpers take their gauges with them; previousRun sends records for answers only', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--expose-gc',
        '-e',
        `
        const m = require(${JSON.stringify(join(root, 'index.js'))})
        const emitted = []
        Object.prototype.telemetry = { logger: { emit: (r) => emitted.push(r) } }
        const d = new m.MemoryDiagnosticsDumper({ directory: ${JSON.stringify(scratch('otel-proto'))} })
        delete Object.prototype.telemetry
        let added = 0, removed = 0
        const meter = { createObservableGauge: () => ({}), createCounter: () => ({ add() {} }), addBatchObservableCallback: () => added++, removeBatchObservableCallback: () => removed++ }
        for (let i = 0; i < 20; i++) new m.MemoryDiagnosticsDumper({ directory: ${JSON.stringify(scratch('otel-drop'))}, sessionId: 'd' + i, telemetry: { meter } })
        const logger = { emit: (r) => emitted.push(r) }
        m.previousRun({ directory: 5, telemetry: { logger } })
        m.previousRun({ directory: ${JSON.stringify(scratch('otel-empty'))}, telemetry: { logger } })
        d.dump('hard').then(async () => {
          for (let i = 0; i < 20 && removed < 20; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)) }
          process.stdout.write(JSON.stringify({ emitted: emitted.length, added, removed }))
        })`,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    )
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.emitted).toBe(0)
    expect(out.added).toBe(20)
    expect(out.removed).toBe(20)
  })

  it('a FIFO put in the place of a dump never blocks its record (read without blocking, never through a link)', () => {
    const dir = scratch('otel-fifo')
    const fifo = join(dir, 'memory-fifo-2026-12-07T00-00-00-000Z-1.json')
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
    const { dumpRecord } = require('../lib/dumper/telemetry.js')
    const t = Date.now()
    const rec = dumpRecord({ written: true, complete: true, filePath: fifo, trigger: 'hard', dumpNumber: 1 }, 1000)
    expect(Date.now() - t).toBeLessThan(5000)
    expect(rec.attributes['memory_diagnostics.dump.number']).toBe(1)
    expect(rec.attributes['memory_diagnostics.risk.top']).toBeUndefined()
  }, 10_000)
})
