import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync, chmodSync, utimesSync } from 'node:fs'
import { join } from 'node:path'
import v8 from 'node:v8'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { dumpFiles, implementations, input, isRoot, mode, readDump, root, runNode, scratch, straceUnavailable } from './helpers.js'

describe.each(implementations)('$name implementation', ({ name: impl, MemoryDiagnosticsDumper, env }) => {

function newDumper(extra: Record<string, unknown> = {}) {
  const dir = join(scratch(), 'diagnostics')
  const dumper = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'test-session-1', ...extra })
  return { dir, dumper }
}

describe('phase 1 and phase 2', () => {
  it('has a complete, valid phase-1 file on disk before dump() returns', () => {
    const { dir, dumper } = newDumper()
    const heap = v8.getHeapStatistics()
    const promise = dumper.dump('hard', { heapStatistics: heap, memoryUsage: process.memoryUsage(), session: { historyEntries: 42 } })
    // Read synchronously: no await has happened, phase 2 can at most be racing.
    const files = dumpFiles(dir)
    expect(files).toHaveLength(1)
    const doc = readDump(files[0])
    expect(doc.schemaVersion).toBe(1)
    expect(doc.trigger).toBe('hard')
    expect(doc.dumpNumber).toBe(1)
    expect(doc.sessionId).toBe('testsess')
    expect(doc.pid).toBe(process.pid)
    expect(doc.atTrigger.v8HeapStats.heapSizeLimit).toBe(heap.heap_size_limit)
    expect(doc.atTrigger.v8HeapStats.usedHeapSize).toBe(heap.used_heap_size)
    expect(doc.session).toEqual({ historyEntries: 42 })
    expect(doc.runtime.nodeVersion).toBe(process.versions.node)
    expect(doc.runtime.platform).toBe(process.platform)
    expect(doc.runtime.arch).toBe(process.arch)
    expect(doc.runtime.implementation).toBe(impl)
    expect(doc.suggestion).toMatch(/Memory use is high/)
    expect(Date.parse(doc.timestamp)).toBeGreaterThan(Date.now() - 60_000)
    expect(files[0]).toMatch(/\/memory-testsess-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-1\.json$/)
    return promise
  })

  it('replaces the file with the enriched phase-2 document and keeps the crisis figures', async () => {
    const { dir, dumper } = newDumper({ appVersion: 'my-cli 1.2.3' })
    const promise = dumper.dump('critical', input({ session: { label: 'x' } }))
    const phase1 = readDump(dumpFiles(dir)[0])
    const result = await promise
    expect(result).toEqual({
      filePath: dumpFiles(dir)[0],
      trigger: 'critical',
      dumpNumber: 1,
      complete: true,
      written: true,
    })
    const phase2 = readDump(result!.filePath)
    expect(phase2.collectionComplete).toBe(true)
    expect(phase2.atTrigger).toEqual(phase1.atTrigger)
    expect(phase2.timestamp).toBe(phase1.timestamp)
    expect(phase2.runtime.appVersion).toBe('my-cli 1.2.3')
    expect(phase2.process.status.vmRss).toBeGreaterThan(1 << 20)
    expect(phase2.process.status.threads).toBeGreaterThan(0)
    // The RSS split comes from /proc/self/status at any size, each figure naming its source.
    const split = phase2.process.rssSplit
    expect(split.rss).toEqual({ bytes: phase2.process.status.vmRss, source: 'status:VmRSS' })
    expect(split.anon).toEqual({ bytes: phase2.process.status.rssAnon, source: 'status:RssAnon' })
    expect(split.file).toEqual({ bytes: phase2.process.status.rssFile, source: 'status:RssFile' })
    expect(split.shmem.source).toBe('status:RssShmem')
    expect(split.swap.source).toBe('status:VmSwap')
    expect(split.anon.bytes).toBeGreaterThan(1 << 20)
    expect(phase2.process.statm.resident).toBeGreaterThan(1 << 20)
    expect(phase2.process.openFds).toBeGreaterThan(2)
    expect(phase2.process.resourceUsage.maxRssBytes).toBeGreaterThan(1 << 20)
    expect(phase2.process.uptimeSeconds).toBeGreaterThan(0)
    expect(phase2.system.totalMemory).toBeGreaterThan(phase2.system.availableMemory)
    // The JS fallback leaves the cgroup and process tree to the native addon, and says so.
    expect(phase2.collection.failedProbes.map((f: any) => f.probe)).toEqual(impl === 'native' ? [] : ['cgroup', 'processTree'])
    expect(phase2.collection.phase2Millis).toBeGreaterThan(0)
    expect(phase2.collection.phase1Micros).toBeGreaterThan(0)
    expect(readdirSync(dir)).toHaveLength(1) // no temporary files left
  })

  it('reads smaps_rollup below the resident-size threshold or when opted in, and says why it skipped it above', async () => {
    // Thresholds set far on either side of any process size, so the machine cannot matter.
    const below = newDumper({ smapsRollupMaxRssBytes: Number.MAX_SAFE_INTEGER, cooldownMs: 0 }).dumper
    const above = newDumper({ smapsRollupMaxRssBytes: 1, cooldownMs: 0 }).dumper
    const always = newDumper({ smapsRollup: 'always', smapsRollupMaxRssBytes: 1, cooldownMs: 0 }).dumper
    const never = newDumper({ smapsRollup: 'never', cooldownMs: 0 }).dumper
    const doc = async (d: any) => readDump((await d.dump('manual', input()))!.filePath)
    for (const read of [await doc(below), await doc(always)]) {
      expect(read.process.smapsRollup.rss).toBeGreaterThan(1 << 20)
      expect(read.process.rssSplit.pss).toEqual({ bytes: read.process.smapsRollup.pss, source: 'smaps_rollup:Pss' })
      expect(read.process.rssSplit.swapPss.source).toBe('smaps_rollup:SwapPss')
      expect(read.collection.skippedProbes).toEqual([])
      expect(read.collection.probeMicros).toHaveProperty('smapsRollup')
    }
    const big = await doc(above)
    expect(big.process.smapsRollup).toBeNull()
    expect(big.collection.skippedProbes).toHaveLength(1)
    const { probe, reason } = big.collection.skippedProbes[0]
    expect(probe).toBe('smapsRollup')
    expect(reason).toMatch(/^not read: the resident size \(\d+\.\d MiB\) is at or above options\.smapsRollupMaxRssBytes \(0\.0 MiB\); .*page-table entry/)
    expect(big.process.rssSplit.pss).toEqual({ bytes: null, source: null, skipped: reason })
    expect(big.process.rssSplit.swapPss.skipped).toBe(reason)
    expect(big.process.rssSplit.anon.source).toBe('status:RssAnon')
    expect(big.collection.probeMicros).not.toHaveProperty('smapsRollup')
    expect(big.collection.failedProbes.map((f: any) => f.probe)).not.toContain('smapsRollup')
    const off = await doc(never)
    expect(off.collection.skippedProbes).toEqual([{ probe: 'smapsRollup', reason: "not read: options.smapsRollup is 'never'" }])
  })

  it('counts open file descriptors live', async () => {
    const { dumper } = newDumper({ cooldownMs: 0 })
    const a = readDump((await dumper.dump('hard', input()))!.filePath).process.openFds
    const { openSync, closeSync } = await import('node:fs')
    const fds = Array.from({ length: 20 }, () => openSync(join(root, 'package.json'), 'r'))
    const b = readDump((await dumper.dump('hard', input()))!.filePath).process.openFds
    fds.forEach(closeSync)
    expect(b - a).toBeGreaterThanOrEqual(20)
    expect(b - a).toBeLessThan(30)
  })
})

describe('session limits', () => {
  it('stops at maxDumpsPerSession and resolves null without writing', async () => {
    const { dir, dumper } = newDumper({ maxDumpsPerSession: 3, cooldownMs: 0 })
    const results = []
    for (let i = 0; i < 5; i++) results.push(await dumper.dump('hard', input()))
    expect(results.map((r) => r && r.dumpNumber)).toEqual([1, 2, 3, null, null])
    expect(dumper.dumpCount).toBe(3)
    expect(dumpFiles(dir)).toHaveLength(3)
  })

  it('honours the cooldown', async () => {
    const { dir, dumper } = newDumper({ cooldownMs: 60_000 })
    expect(await dumper.dump('hard', input())).not.toBeNull()
    expect(await dumper.dump('critical', input())).toBeNull()
    expect(dumper.dumpCount).toBe(1)
    expect(dumpFiles(dir)).toHaveLength(1)
  })

  it('uses the default cap of 3 and cooldown of 30 s', async () => {
    const { dumper } = newDumper()
    expect(await dumper.dump('hard', input())).not.toBeNull()
    expect(await dumper.dump('hard', input())).toBeNull() // cooldown
    expect(dumper.dumpCount).toBe(1)
  })

  it('starts over on resetForNewSession, with the new id in file names', async () => {
    const { dir, dumper } = newDumper({ maxDumpsPerSession: 1, cooldownMs: 60_000 })
    expect(await dumper.dump('hard', input())).not.toBeNull()
    expect(await dumper.dump('hard', input())).toBeNull()
    dumper.resetForNewSession('second/../session')
    expect(dumper.dumpCount).toBe(0)
    expect(dumper.sessionId).toBe('secondse')
    const r = await dumper.dump('critical', input())
    expect(r!.dumpNumber).toBe(1)
    expect(r!.filePath).toContain('/memory-secondse-')
    dumper.resetForNewSession()
    expect(dumper.sessionId).toBe('secondse')
    expect(dumpFiles(dir)).toHaveLength(2)
  })

  it('gives exactly the cap to 50 concurrent calls', async () => {
    const { dir, dumper } = newDumper({ maxDumpsPerSession: 3, cooldownMs: 0 })
    const results = await Promise.all(Array.from({ length: 50 }, () => dumper.dump('hard', input())))
    const written = results.filter((r) => r !== null)
    expect(written).toHaveLength(3)
    expect(written.map((r) => r!.dumpNumber).sort()).toEqual([1, 2, 3])
    expect(written.every((r) => r!.complete)).toBe(true)
    expect(dumpFiles(dir)).toHaveLength(3)
    dumpFiles(dir).forEach(readDump)
  })

  it('blocks a re-entrant call made from inside the first one', async () => {
    const { dir, dumper } = newDumper({ cooldownMs: 10_000 })
    let inner: unknown = 'not called'
    const heapStatistics = v8.getHeapStatistics()
    const trap = new Proxy(heapStatistics, {
      get(target, key, recv) {
        // A getter that dumps again while the outer call is reading its input.
        if (key === 'heap_size_limit' && inner === 'not called') inner = dumper.dump('critical', input())
        return Reflect.get(target, key, recv)
      },
    })
    const outer = await dumper.dump('hard', { heapStatistics: trap, memoryUsage: process.memoryUsage() })
    expect(inner).toBeInstanceOf(Promise)
    // Whichever of the two reserved first wins (here the inner one, since the outer
    // reserves after reading its input); the other is refused by the cooldown.
    const innerResult = await (inner as Promise<unknown>)
    expect([outer, innerResult].filter((r) => r !== null)).toHaveLength(1)
    expect(dumpFiles(dir)).toHaveLength(1)
  })
})

describe('failures', () => {
  it('resolves with an error and keeps the slot when the directory cannot be created', async () => {
    const base = scratch()
    writeFileSync(join(base, 'file'), 'not a directory')
    const dumper = new MemoryDiagnosticsDumper({ directory: join(base, 'file', 'diagnostics'), cooldownMs: 0 })
    const r = await dumper.dump('hard', input())
    expect(r).not.toBeNull()
    expect(r!.written).toBe(false)
    expect(r!.complete).toBe(false)
    expect(r!.error).toMatch(/^phase 1: could not create diagnostics directory .*file\/diagnostics: .*not a directory/i)
    expect(dumper.dumpCount).toBe(1)
  })

  it('refuses a directory writable by others, naming the path and reason', async () => {
    const dir = join(scratch(), 'shared')
    mkdirSync(dir)
    chmodSync(dir, 0o777)
    const dumper = new MemoryDiagnosticsDumper({ directory: dir })
    const r = await dumper.dump('hard', input())
    expect(r!.written).toBe(false)
    expect(r!.error).toContain(dir)
    expect(r!.error).toContain('writable by group or others (mode 777)')
    expect(readdirSync(dir)).toEqual([])
  })

  if (isRoot) console.log('skipped the read-only directory test: root ignores directory permissions (reliability.spec.ts covers a read-only mount)')
  it.skipIf(isRoot)('resolves with an error on a read-only directory (non-root only)', async () => {
    const dir = join(scratch(), 'ro')
    mkdirSync(dir, { mode: 0o500 })
    const dumper = new MemoryDiagnosticsDumper({ directory: dir })
    const r = await dumper.dump('hard', input())
    expect(r!.written).toBe(false)
    expect(r!.error).toMatch(/could not create temporary file .*permission denied/i)
    expect(dumper.dumpCount).toBe(1)
  })

  const noStrace = straceUnavailable()
  it.skipIf(noStrace !== null)('keeps the phase-1 file intact when phase 2 fails (fsync EIO injected with strace)', () => {
    const dir = join(scratch(), 'diag')
    // Phase 1 never fsyncs; the first fsync is phase 2's, on its temporary file.
    const r = runNode(join(root, '__test__/children/dump-once.mjs'), [dir], {
      env,
      prefix: ['strace', '-f', '-qq', '-o', '/dev/null', '-e', 'trace=fsync', '-e', 'inject=fsync:error=EIO'],
    })
    expect(r.status, r.stderr).toBe(0)
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(result.complete).toBe(false)
    expect(result.written).toBe(true)
    expect(result.error).toMatch(/^phase 2: could not fsync temporary file .*(Input\/output error|EIO).*phase-1 document is left in place/)
    expect(readDump(result.filePath).runtime.implementation).toBe(impl)
    const files = readdirSync(dir)
    expect(files).toHaveLength(1) // the temporary file was removed, not renamed
    const doc = readDump(join(dir, files[0]))
    expect(doc.collectionComplete).toBe(false)
    expect(doc.process).toBeUndefined()
  })
  if (noStrace) console.log(`skipped the fsync-injection test: ${noStrace}`)
})

describe('argument validation', () => {
  const dir = () => join(scratch(), 'd')
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['options missing', () => new (MemoryDiagnosticsDumper as any)(), /^options: expected an object, got undefined/],
    ['empty directory', () => new MemoryDiagnosticsDumper({ directory: '' }), /^options\.directory: expected a non-empty path string, got ""/],
    ['directory not a string', () => new MemoryDiagnosticsDumper({ directory: 5 as any }), /^options\.directory: expected a non-empty path string, got 5/],
    ['cap zero', () => new MemoryDiagnosticsDumper({ directory: dir(), maxDumpsPerSession: 0 }), /^options\.maxDumpsPerSession: expected an integer from 1 to 1000000, got 0/],
    ['cap fractional', () => new MemoryDiagnosticsDumper({ directory: dir(), maxDumpsPerSession: 1.5 }), /^options\.maxDumpsPerSession: expected an integer/],
    ['cooldown negative', () => new MemoryDiagnosticsDumper({ directory: dir(), cooldownMs: -1 }), /^options\.cooldownMs: expected an integer from 0 to 604800000, got -1/],
    ['cooldown string', () => new MemoryDiagnosticsDumper({ directory: dir(), cooldownMs: '100' as any }), /^options\.cooldownMs: expected an integer .*got "100"/],
    ['maxFiles NaN', () => new MemoryDiagnosticsDumper({ directory: dir(), maxFiles: NaN }), /^options\.maxFiles: expected an integer from 1 to 100000, got NaN/],
    ['sessionId number', () => new MemoryDiagnosticsDumper({ directory: dir(), sessionId: 7 as any }), /^options\.sessionId: expected a string, got 7/],
    ['suggestions not object', () => new MemoryDiagnosticsDumper({ directory: dir(), suggestions: 'x' as any }), /^options\.suggestions: expected an object, got a string/],
    ['suggestion too long', () => new MemoryDiagnosticsDumper({ directory: dir(), suggestions: { hard: 'x'.repeat(5000) } }), /^options\.suggestions\.hard: expected a string of at most 1024 characters/],
    ['smapsRollup unknown', () => new MemoryDiagnosticsDumper({ directory: dir(), smapsRollup: 'sometimes' as any }), /^options\.smapsRollup: expected 'auto', 'always' or 'never', got "sometimes"$/],
    ['smapsRollup not a string', () => new MemoryDiagnosticsDumper({ directory: dir(), smapsRollup: true as any }), /^options\.smapsRollup: expected 'auto', 'always' or 'never', got true$/],
    ['smapsRollupMaxRssBytes negative', () => new MemoryDiagnosticsDumper({ directory: dir(), smapsRollupMaxRssBytes: -1 }), /^options\.smapsRollupMaxRssBytes: expected an integer from 0 to 9007199254740991, got -1$/],
    ['smapsRollupMaxRssBytes string', () => new MemoryDiagnosticsDumper({ directory: dir(), smapsRollupMaxRssBytes: '1' as any }), /^options\.smapsRollupMaxRssBytes: expected an integer from 0 to 9007199254740991, got "1"$/],
  ]
  for (const [name, fn, message] of cases) {
    it(`constructor: ${name}`, () => {
      let err: any
      try {
        fn()
      } catch (e) {
        err = e
      }
      expect(err, 'expected a throw').toBeInstanceOf(Error)
      expect(err.code).toBe('InvalidArg')
      expect(err.message).toMatch(message)
    })
  }

  const dumpCases: Array<[string, unknown, unknown, RegExp]> = [
    ['unknown trigger', 'soft', input(), /^trigger: expected 'hard', 'critical' or 'manual', got "soft"/],
    ['trigger not a string', 3, input(), /^trigger: expected 'hard', 'critical' or 'manual', got 3/],
    ['input missing', 'hard', undefined, /^input: expected an object, got undefined/],
    ['input not an object', 'hard', 'x', /^input: expected an object, got a string/],
    ['heapStatistics missing', 'hard', { memoryUsage: process.memoryUsage() }, /^input\.heapStatistics: expected an object, got undefined/],
    ['memoryUsage wrong', 'hard', { heapStatistics: v8.getHeapStatistics(), memoryUsage: 12 }, /^input\.memoryUsage: expected an object, got a number/],
    ['heapSpaces wrong', 'hard', input({ heapSpaces: {} as any }), /^input\.heapSpaces: expected an array .*got an object/],
    ['session an array', 'hard', input({ session: [1] as any }), /^input\.session: expected a flat object .*got an array/],
  ]
  for (const [name, trigger, arg, message] of dumpCases) {
    it(`dump: ${name} throws and consumes no slot`, () => {
      const d = join(scratch(), 'd')
      const dumper = new MemoryDiagnosticsDumper({ directory: d, cooldownMs: 0 })
      let err: any
      try {
        dumper.dump(trigger as any, arg as any)
      } catch (e) {
        err = e
      }
      expect(err, 'expected a throw').toBeInstanceOf(Error)
      expect(err.code).toBe('InvalidArg')
      expect(err.message).toMatch(message)
      expect(dumper.dumpCount).toBe(0)
      expect(existsSync(d)).toBe(false)
    })
  }
})

describe('malformed and oversized input', () => {
  it('records malformed numbers as null with warnings and still dumps', async () => {
    const { dumper } = newDumper()
    const heapStatistics: any = { ...v8.getHeapStatistics(), used_heap_size: NaN, heap_size_limit: -1, malloced_memory: '12' }
    delete heapStatistics.total_heap_size
    const memoryUsage: any = { ...process.memoryUsage(), rss: Infinity, heapUsed: null }
    const r = await dumper.dump('hard', { heapStatistics, memoryUsage })
    const doc = readDump(r!.filePath)
    expect(doc.atTrigger.v8HeapStats.usedHeapSize).toBeNull()
    expect(doc.atTrigger.v8HeapStats.heapSizeLimit).toBeNull()
    expect(doc.atTrigger.v8HeapStats.mallocedMemory).toBeNull()
    expect(doc.atTrigger.v8HeapStats.totalHeapSize).toBeNull()
    expect(doc.atTrigger.memoryUsage.rss).toBeNull()
    expect(doc.atTrigger.memoryUsage.heapUsed).toBeNull()
    expect(doc.atTrigger.memoryUsage.heapTotal).toBeGreaterThan(0)
    expect(doc.inputWarnings).toEqual([
      'heapStatistics.total_heap_size: expected a non-negative finite number, got undefined; recorded as null',
      'heapStatistics.used_heap_size: expected a non-negative finite number, got NaN; recorded as null',
      'heapStatistics.heap_size_limit: expected a non-negative finite number, got -1; recorded as null',
      'heapStatistics.malloced_memory: expected a non-negative finite number, got "12"; recorded as null',
      'memoryUsage.rss: expected a non-negative finite number, got inf; recorded as null',
      'memoryUsage.heapUsed: expected a non-negative finite number, got null; recorded as null',
    ])
  })

  it('truncates oversized session objects and strings and says so', async () => {
    const { dumper } = newDumper()
    const session: Record<string, unknown> = {}
    for (let i = 0; i < 100; i++) session[`k${i}`] = i
    session.k1 = 'y'.repeat(10_000_000)
    session.k2 = { nested: true }
    session.k3 = true
    const r = await dumper.dump('hard', input({ session: session as any }))
    const doc = readDump(r!.filePath)
    expect(Object.keys(doc.session)).toHaveLength(63) // 64 kept, one dropped (the nested object)
    expect(doc.session.k1).toHaveLength(1024)
    expect(doc.session.k3).toBe(true)
    expect(doc.session.k0).toBe(0)
    expect(doc.session.k99).toBeUndefined()
    expect(doc.inputWarnings).toContain('session: 100 keys given, kept the first 64')
    expect(doc.inputWarnings).toContain('session.k1: string truncated to 1024 characters')
    expect(doc.inputWarnings).toContain('session.k2: expected a number, string or boolean, got object; dropped')
  })
})

describe('files on disk', () => {
  it('creates directories 0700 and files 0600', async () => {
    const base = scratch()
    const dir = join(base, 'a', 'b', 'diagnostics')
    const dumper = new MemoryDiagnosticsDumper({ directory: dir })
    const r = await dumper.dump('hard', input())
    expect(mode(dir)).toBe(0o700)
    expect(mode(join(base, 'a'))).toBe(0o700)
    expect(mode(r!.filePath)).toBe(0o600)
  })

  it('keeps at most maxFiles dumps across sessions and never touches other files', async () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir, { mode: 0o700 })
    writeFileSync(join(dir, 'notes.json'), 'mine')
    writeFileSync(join(dir, 'memory-notes.json'), 'mine too')
    const dumper = new MemoryDiagnosticsDumper({ directory: dir, maxFiles: 4, cooldownMs: 0, maxDumpsPerSession: 3 })
    const written: string[] = []
    for (let s = 0; s < 4; s++) {
      dumper.resetForNewSession(`session${s}`)
      for (let i = 0; i < 3; i++) {
        written.push((await dumper.dump('hard', input()))!.filePath)
        await new Promise((r) => setTimeout(r, 2))
      }
    }
    const left = dumpFiles(dir)
    expect(left).toEqual(written.slice(-4).sort())
    expect(readFileSync(join(dir, 'notes.json'), 'utf8')).toBe('mine')
    expect(readFileSync(join(dir, 'memory-notes.json'), 'utf8')).toBe('mine too')
  })

  it("sweeps abandoned temporary files by lock or age, never by pid", async () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir, { mode: 0o700 })
    const final = 'memory-old-2026-01-01T00-00-00-000Z-1.json'
    const agedOut = `.${final}.0-3.tmp` // older versions' name (pid 0): judged by age, 11 minutes old
    const freshPidName = `.${final}.0-4.tmp` // the same shape, fresh: a live writer elsewhere may own it
    const freshJs = `.${final}.A0123456789abcdef.tmp` // the JS implementation's: by age
    const unlockedNative = `.${final}.L0123456789abcdef.tmp` // the native addon's, its writer gone (no lock)
    for (const f of [agedOut, freshPidName, freshJs, unlockedNative, '.unrelated.tmp']) writeFileSync(join(dir, f), '{"trunc')
    const old = new Date(Date.now() - 11 * 60_000)
    utimesSync(join(dir, agedOut), old, old)
    const dumper = new MemoryDiagnosticsDumper({ directory: dir })
    await dumper.dump('hard', input())
    // The JS implementation cannot test a lock: it judges the native kind by age as well.
    const kept = ['.unrelated.tmp', freshPidName, freshJs, ...(impl === 'js' ? [unlockedNative] : [])]
    expect(readdirSync(dir).sort()).toEqual([...kept, ...dumpFiles(dir).map((f) => f.slice(dir.length + 1))].sort())
  })

  it('records no environment variables or argument values', async () => {
    const canary = 'CANARY_' + Math.random().toString(36).slice(2)
    process.env.MDD_SECRET_TOKEN = canary
    process.argv.push(`--token=${canary}`)
    try {
      const { dumper } = newDumper()
      const r = await dumper.dump('hard', input({ session: { ok: 1 } }))
      const text = readFileSync(r!.filePath, 'utf8')
      expect(text).not.toContain(canary)
      expect(text).not.toContain('MDD_SECRET_TOKEN')
    } finally {
      delete process.env.MDD_SECRET_TOKEN
      process.argv.pop()
    }
  })
})

describe('threads', () => {
  it('works in worker_threads, each dumper independent', async () => {
    const base = scratch()
    const code = `
      const { parentPort, workerData } = require('node:worker_threads')
      const v8 = require('node:v8')
      const { MemoryDiagnosticsDumper } = require(${JSON.stringify(join(root, 'index.js'))})
      const d = new MemoryDiagnosticsDumper({ directory: workerData.dir, sessionId: 'w' + workerData.i, maxDumpsPerSession: 2, cooldownMs: 0 })
      Promise.all([1, 2, 3].map(() => d.dump('hard', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })))
        .then((r) => parentPort.postMessage({ results: r, count: d.dumpCount }))`
    const runs = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        new Promise<any>((resolve, reject) => {
          const w = new Worker(code, { eval: true, env: { ...process.env, ...env }, workerData: { dir: join(base, `w${i}`), i } })
          w.once('message', (m) => {
            resolve(m)
            void w.terminate()
          })
          w.once('error', reject)
        }),
      ),
    )
    runs.forEach((m, i) => {
      expect(m.count).toBe(2)
      expect(m.results.filter((r: any) => r && r.complete)).toHaveLength(2)
      expect(m.results.filter((r: any) => r === null)).toHaveLength(1)
      const files = dumpFiles(join(base, `w${i}`))
      expect(files).toHaveLength(2)
      files.forEach((f) => expect(readDump(f)).toMatchObject({ sessionId: `w${i}`, runtime: { implementation: impl } }))
    })
  })

  // The JS fallback reads files through the threadpool by nature; only the native
  // addon promises independence from it.
  it.skipIf(impl === 'js')('finishes phase 2 while the libuv threadpool is saturated', () => {
    const dir = join(scratch(), 'diag')
    const r = runNode(join(root, '__test__/children/threadpool.mjs'), [dir], { env: { UV_THREADPOOL_SIZE: '2' } })
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.result.complete).toBe(true)
    // Every pool thread was still busy when the dump's promise resolved.
    expect(out.poolBusyAtResolve).toBe(0)
    expect(out.dumpResolvedMs).toBeLessThan(Math.min(...out.poolDone))
    expect(readDump(out.result.filePath).collectionComplete).toBe(true)
  })
})
})
