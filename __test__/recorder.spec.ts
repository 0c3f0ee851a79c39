import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import v8 from 'node:v8'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import {
  dumpFiles,
  implementations,
  input,
  MemoryDiagnosticsDumper,
  makeMemoryCgroup,
  mode,
  readDump,
  recorderFile,
  root,
  runNode,
  scratch,
  waitFor,
  written,
} from './helpers.js'

const MiB = 2 ** 20

/** Parses a recorder file; a torn last line (death mid-write) is tolerated and reported. */
export function readRecorder(path: string) {
  const lines = readFileSync(path, 'utf8').split('\n')
  const last = lines.pop()
  const records = lines.map((l, i) => {
    try {
      return JSON.parse(l)
    } catch {
      throw new Error(`${path}: line ${i + 1} is not JSON: ${l.slice(0, 80)}`)
    }
  })
  return { records, torn: last !== '' && last !== undefined, samples: records.filter((r) => r.type === 'sample') }
}

describe('flight recorder', () => {
  it('samples on its own thread, writes one JSON line per sample (0600), puts the ring in every dump, and close() appends an exit record', async () => {
    const dir = join(scratch(), 'diag')
    const d = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'rec', cooldownMs: 0, recorder: { intervalMs: 25, samples: 8 } })
    d.observe(v8.getHeapStatistics(), process.memoryUsage())
    // The ring is full (8 samples) and its newest sample is 300 ms past the observe().
    await waitFor(() => {
      const { samples } = readRecorder(recorderFile(dir, 'rec'))
      return samples.length >= 8 && samples.at(-1).v8AgeMs >= 300 ? true : undefined
    }, 'eight samples, the newest 300 ms after observe()')
    const pending = d.dump('hard', input())
    const phase1 = readDump(dumpFiles(dir)[0])
    const r = await pending
    const phase2 = readDump(written(r))
    for (const doc of [phase1, phase2]) {
      expect(doc.history).toHaveLength(8)
      const last = doc.history[7]
      expect(last.rssBytes).toBeGreaterThan(10 * MiB)
      expect(last.heapLimitBytes).toBe(v8.getHeapStatistics().heap_size_limit)
      expect(last.v8AgeMs).toBeGreaterThanOrEqual(300)
      expect(doc.history[0].epochMs).toBeLessThan(last.epochMs)
    }
    d.close()
    d.close() // idempotent
    const file = recorderFile(dir, 'rec')
    await waitFor(() => (readRecorder(file).records.at(-1)?.type === 'exit' ? true : undefined), 'the exit record')
    expect(mode(file)).toBe(0o600)
    const { records, torn } = readRecorder(file)
    expect(torn).toBe(false)
    expect(records[0]).toMatchObject({
      type: 'start',
      pid: process.pid,
      processStartMs: phase1.processStartMs,
      sessionId: 'rec',
      intervalMs: 25,
      continues: false,
    })
    expect(records.at(-1)).toMatchObject({ type: 'exit', reason: 'close' })
    expect(records.filter((x) => x.type === 'sample').length).toBeGreaterThanOrEqual(10)
    // Later dumps are skipped as closed, without a slot.
    expect(await d.dump('critical', input())).toMatchObject({ written: false, skipped: 'closed', retryAfterMs: null })
  })

  it('the observe() block layout is generated from contract.json: reordered and appended fields land in their own slots, and the native layout matches', async () => {
    const { createRequire } = await import('node:module')
    const req = createRequire(import.meta.url)
    const { makeWriter } = req('../lib/dumper/figures.js')
    const layout = req('../lib/contract.json').observedFigures
    const native = (() => {
      try {
        return req('../native.js')
      } catch {
        return null
      }
    })()
    // The slots in contract.json are the crate's, field for field.
    const fromFields = (i: any) => [
      ...i.heapStatFields.map(([k]: string[]) => `heapStatistics.${k}`),
      ...i.memoryUsageFields.map(([k]: string[]) => `memoryUsage.${k}`),
    ]
    expect(layout.slots).toEqual(fromFields(req('../lib/contract.json').input))
    if (native) expect(native.observedFigureKeys()).toEqual(layout.slots)
    // A layout with its slots reordered and one appended to each container.
    const heap = layout.slots.filter((k: string) => k.startsWith('heapStatistics.'))
    const usage = layout.slots.filter((k: string) => k.startsWith('memoryUsage.'))
    const reordered = { generationSlot: 0, slots: [...usage.reverse(), 'memoryUsage.appendedUsage', ...heap.reverse(), 'heapStatistics.appended_heap'] }
    const keys: string[] = reordered.slots
    expect(keys.join()).not.toBe(layout.slots.join())
    const h: any = {}
    const u: any = {}
    keys.forEach((k, i) => {
      const [c, f] = k.split('.')
      ;(c === 'heapStatistics' ? h : u)[f] = 1000 + i
    })
    const f = new Float64Array(keys.length + 1)
    makeWriter(reordered)(f, h, u)
    expect(Array.from(f.subarray(1))).toEqual(keys.map((_, i) => 1000 + i))
    expect(f[0]).toBe(2) // one finished write: odd while writing, even after
    // A throwing getter: nothing is stored and the generation stays even.
    const before = Array.from(f)
    Object.defineProperty(u, 'rss', {
      get: () => {
        throw new Error('boom')
      },
    })
    expect(() => makeWriter(reordered)(f, h, u)).toThrow('boom')
    expect(Array.from(f)).toEqual(before)
    // A field name that is not a plain identifier is refused, never compiled.
    expect(() => makeWriter({ generationSlot: 0, slots: ['heapStatistics.a;b'] })).toThrow(/not a plain identifier/)
    expect(() => makeWriter({ generationSlot: 0, slots: ['process.rss'] })).toThrow(/is not heapStatistics/)
  })

  it('observe() through the package entry stores each figure in its place, non-numbers as null, and still checks its arguments', async () => {
    const dir = join(scratch(), 'diag')
    const d = new MemoryDiagnosticsDumper({
      directory: dir,
      sessionId: 'obs',
      cooldownMs: 0,
      recorder: { intervalMs: 20 },
      watchdog: { rssBytes: 1, stallMs: 100 },
    })
    const h: any = { ...v8.getHeapStatistics(), used_heap_size: 111, heap_size_limit: 'x', total_heap_size: 333 }
    const u: any = { ...process.memoryUsage(), heapTotal: 222, external: 444 }
    d.observe(h, u)
    expect(() => d.observe(null as any, u)).toThrow(/^heapStatistics: expected an object, got null/)
    expect(() => d.observe(h, 5 as any)).toThrow(/^memoryUsage: expected an object, got a number/)
    // Block the event loop past stallMs: the watchdog dumps with the observed figures.
    const until = Date.now() + 600
    while (Date.now() < until);
    const wd = await waitFor(
      () =>
        dumpFiles(dir)
          .map(readDump)
          .find((doc) => doc.trigger === 'watchdog' && doc.collectionComplete),
      'the watchdog dump',
    )
    d.close()
    expect(wd, 'a watchdog dump').toBeDefined()
    expect(wd.atTrigger.v8HeapStats).toMatchObject({
      usedHeapSize: 111,
      heapSizeLimit: null,
      totalHeapSize: 333,
      numberOfNativeContexts: h.number_of_native_contexts,
    })
    expect(wd.atTrigger.memoryUsage).toEqual({ rss: u.rss, heapTotal: 222, heapUsed: u.heapUsed, external: 444, arrayBuffers: u.arrayBuffers })
    const last = wd.history.at(-1)
    expect(last).toMatchObject({ heapUsedBytes: 111, heapTotalBytes: 222, heapLimitBytes: null, externalBytes: 444 })
  })

  it('observe() with its figures omitted collects them itself, on both implementations', async () => {
    for (const impl of implementations) {
      const dir = join(scratch(), impl.name)
      const d = new impl.MemoryDiagnosticsDumper({ directory: dir, sessionId: 'omit', recorder: { intervalMs: 20 } })
      // Both omitted, then one: the other is collected (a parameter named like the
      // collector once hid it, and observe() threw).
      expect(() => d.observe()).not.toThrow()
      expect(() => d.observe(undefined, process.memoryUsage())).not.toThrow()
      if (impl.name === 'native') {
        const sample = await waitFor(
          () =>
            readFileSync(recorderFile(dir, 'omit'), 'utf8')
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l))
              .find((s) => s.heapUsedBytes > 0),
          'a sample with the observed heap figures',
        )
        expect(sample.heapLimitBytes).toBe(v8.getHeapStatistics().heap_size_limit)
      }
      d.close()
    }
  })

  it('several dumpers in one process and in worker threads record independently', async () => {
    const base = scratch()
    const a = new MemoryDiagnosticsDumper({ directory: join(base, 'a'), sessionId: 'a', recorder: { intervalMs: 20 } })
    const b = new MemoryDiagnosticsDumper({ directory: join(base, 'b'), sessionId: 'b', recorder: { intervalMs: 20 } })
    const code = `
      const { parentPort, workerData } = require('node:worker_threads')
      const { MemoryDiagnosticsDumper } = require(${JSON.stringify(join(root, 'native.js'))})
      const d = new MemoryDiagnosticsDumper({ directory: workerData, sessionId: 'w', recorder: { intervalMs: 20 } })
      setTimeout(() => { d.close(); parentPort.postMessage('done') }, 300)`
    await new Promise<void>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: join(base, 'w') })
      w.once('message', () => w.terminate().then(() => resolve()))
      w.once('error', reject)
    })
    a.close()
    const trail = (p: string) => readRecorder(recorderFile(join(base, p), p))
    const ended = (p: string) => (trail(p).records.at(-1)?.type === 'exit' ? true : undefined)
    await waitFor(() => ended('a'), "a's exit record")
    // b goes on sampling after a closed: wait for a sample of b's 100 ms past a's last.
    const aLast = trail('a').samples.at(-1).epochMs
    await waitFor(() => (trail('b').samples.at(-1).epochMs > aLast + 100 ? true : undefined), 'b sampling on')
    b.close()
    await waitFor(() => ended('b'), "b's exit record")
    const [ra, rb, rw] = ['a', 'b', 'w'].map(trail)
    for (const r of [ra, rb, rw]) expect(r.records.at(-1).type).toBe('exit')
    // b kept sampling after a closed.
    expect(rb.samples.at(-1).epochMs).toBeGreaterThan(ra.samples.at(-1).epochMs + 100)
    expect(rw.samples.length).toBeGreaterThan(5)
  })

  it('a worker that ends without close() stops its recorder thread (exit record "released")', async () => {
    const dir = join(scratch(), 'diag')
    const code = `
      const { MemoryDiagnosticsDumper } = require(${JSON.stringify(join(root, 'native.js'))})
      globalThis.kept = new MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)}, sessionId: 'worker', recorder: { intervalMs: 20 } })
      setTimeout(() => require('node:worker_threads').parentPort.postMessage('up'), 100)`
    const w = new Worker(code, { eval: true })
    await new Promise((r) => w.once('message', r))
    await w.terminate()
    const file = recorderFile(dir, 'worker')
    let records: any[] = []
    for (let i = 0; i < 100 && records.at(-1)?.type !== 'exit'; i++) {
      await new Promise((r) => setTimeout(r, 20))
      records = readRecorder(file).records
    }
    expect(records.at(-1)).toMatchObject({ type: 'exit', reason: 'released' })
    // Stopped for good: nothing is appended after the exit record, while a recorder of the
    // same interval on this thread appends ten more samples (ten of its intervals passed).
    const size = readFileSync(file).length
    const clockDir = join(scratch(), 'clock')
    const clock = new MemoryDiagnosticsDumper({ directory: clockDir, sessionId: 'clock', recorder: { intervalMs: 20 } })
    const samples = () => readRecorder(recorderFile(clockDir, 'clock')).samples.length
    const from = await waitFor(() => samples(), "the clock recorder's file")
    await waitFor(() => (samples() >= from + 10 ? true : undefined), 'ten more samples of the clock recorder')
    clock.close()
    expect(readFileSync(file).length).toBe(size)
  })

  for (const how of ['no-close', 'process-exit']) {
    it(`a process that ends without close() (${how === 'no-close' ? 'its loop empties' : 'process.exit(0)'}) exits promptly, its trail ending with an exit record (reason exit)`, () => {
      const dir = join(scratch(), 'diag')
      const started = Date.now()
      const r = runNode(join(root, '__test__/children/recorder-exit.mjs'), [dir, how])
      const exitedAfterLastTimer = Date.now() - Number(r.stdout.trim())
      expect(r.status, r.stderr).toBe(0)
      // The recorder sleeps 60 s between samples; the process must not wait for it.
      expect(exitedAfterLastTimer).toBeLessThan(1000)
      expect(Date.now() - started).toBeLessThan(5000)
      const { records } = readRecorder(recorderFile(dir, 'exit'))
      expect(records.filter((x) => x.type === 'exit')).toEqual([expect.objectContaining({ type: 'exit', reason: 'exit' })])
      expect(records.at(-1)).toMatchObject({ type: 'exit', reason: 'exit' })
      const text = runNode(join(root, 'bin/memory-diagnostics-dumper.js'), ['inspect', dir]).stdout
      expect(text).toMatch(/clean exit/)
      expect(text).not.toMatch(/crashed/)
    })
  }

  it('close() before exit leaves an exit record', () => {
    const dir = join(scratch(), 'diag')
    const r = runNode(join(root, '__test__/children/recorder-exit.mjs'), [dir, 'close'])
    expect(r.status, r.stderr).toBe(0)
    const { records } = readRecorder(recorderFile(dir, 'exit'))
    expect(records.at(-1)).toMatchObject({ type: 'exit', reason: 'close' })
  })
})

describe('watchdog', () => {
  it('writes a complete watchdog dump while the event loop is blocked and memory grows', async () => {
    const dir = join(scratch(), 'diag')
    const child = spawn(process.execPath, [join(root, '__test__/children/blocked-loop.mjs'), dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (d) => (stderr += d))
    const found = await new Promise<string | null>((resolve) => {
      const deadline = Date.now() + 15_000
      const poll = setInterval(() => {
        const files = existsSync(dir) ? dumpFiles(dir) : []
        for (const f of files) {
          try {
            if (JSON.parse(readFileSync(f, 'utf8')).collectionComplete) {
              clearInterval(poll)
              return resolve(f)
            }
          } catch {}
        }
        if (Date.now() > deadline || child.exitCode !== null) {
          clearInterval(poll)
          resolve(null)
        }
      }, 50)
    })
    const stillRunning = child.exitCode === null
    child.kill('SIGKILL')
    expect(found, stderr).not.toBeNull()
    expect(stillRunning).toBe(true) // the dump appeared while the loop was still blocked
    const doc = readDump(found!)
    expect(doc.trigger).toBe('watchdog')
    expect(doc.collectionComplete).toBe(true)
    expect(doc.watchdog.stalledMs).toBeGreaterThanOrEqual(400)
    expect(doc.watchdog.rssBytes).toBeGreaterThanOrEqual(doc.watchdog.thresholdBytes)
    expect(doc.watchdog.v8FiguresAgeMs).toBeGreaterThanOrEqual(400)
    expect(doc.inputWarnings[0]).toMatch(/^watchdog: the V8 figures are \d+ ms old/)
    expect(doc.atTrigger.v8HeapStats.heapSizeLimit).toBeGreaterThan(0)
    expect(doc.history.length).toBeGreaterThan(3)
    expect(doc.suggestion).toMatch(/event loop was blocked/)
  })
})

describe('evidence that survives the kill', () => {
  const limit = 192 * MiB
  const cg = makeMemoryCgroup(limit, 'rec')
  if (typeof cg === 'string') console.log(`skipped the recorder kernel-OOM test: ${cg}`)
  it.skipIf(typeof cg === 'string')(
    'kernel OOM kill: the recorder file parses, ends within two intervals of the death, shows the growth, and has no exit record',
    () => {
      const group = cg as Exclude<typeof cg, string>
      try {
        const dir = join(scratch(), 'diag')
        const interval = 100
        // The kernel-OOM demo's child: recorder every 100 ms, dumps at 50% and 75% of the limit.
        const r = group.runNode(join(root, 'demo/grow-native.mjs'), [dir, String(limit)], { timeout: 60_000 })
        const diedAt = Date.now()
        expect(r.signal).toBe('SIGKILL')
        const { records, samples } = readRecorder(recorderFile(dir, 'kerneloo'))
        expect(records.some((x) => x.type === 'exit')).toBe(false)
        expect(diedAt - samples.at(-1).epochMs).toBeLessThan(2 * interval + 250)
        expect(samples.at(-1).rssBytes - samples[0].rssBytes).toBeGreaterThan(100 * MiB)
        expect(samples.at(-1).cgroupLimitBytes).toBe(limit)
        const dumps = dumpFiles(dir).map(readDump)
        // The child's own monitor dumps at 50% and 75%; the recorder's pressure rule at 90%
        // of what the kernel counts (issue 36), complete before the kill.
        expect(dumps.map((d) => d.trigger).sort()).toEqual(['critical', 'hard', 'pressure'])
        expect(dumps.every((d) => d.history.length > 0)).toBe(true)
        const near = dumps.find((d) => d.trigger === 'pressure')!
        expect(near.collectionComplete).toBe(true)
        expect(near.nearLimit.source).toBe('cgroup')
        expect(near.nearLimit.limitBytes).toBe(limit)
        // At 90% of the limit, or earlier past 75% when the growth would reach 90% within 5 s.
        expect(['share', 'growth']).toContain(near.nearLimit.cause)
        expect(near.nearLimit.share).toBeGreaterThanOrEqual(near.nearLimit.cause === 'share' ? 0.9 : 0.75)
      } finally {
        group.remove()
      }
    },
  )

  it('V8 heap OOM: the monitor dumps and the recorder file survive', () => {
    const dir = join(scratch(), 'diag')
    const r = spawnSync(process.execPath, ['--max-old-space-size=128', join(root, 'demo/child.mjs'), dir], { encoding: 'utf8', timeout: 60_000 })
    expect(r.stderr).toMatch(/JavaScript heap out of memory/)
    const { records, samples } = readRecorder(recorderFile(dir, 'demosess'))
    expect(records.some((x) => x.type === 'exit')).toBe(false)
    expect(samples.length).toBeGreaterThan(3)
    const withHeap = samples.filter((x) => x.heapUsedBytes !== null)
    expect(withHeap.at(-1).heapUsedBytes).toBeGreaterThan(withHeap[0].heapUsedBytes)
    expect(
      dumpFiles(dir)
        .map(readDump)
        .map((d) => d.trigger)
        .sort(),
    ).toEqual(['critical', 'hard'])
  })
})
