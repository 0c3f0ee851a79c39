import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import v8 from 'node:v8'
import { Worker } from 'node:worker_threads'
import { describe, expect, it, vi } from 'vitest'
import {
  DUMP_NAME,
  implementations,
  input,
  makeMemoryCgroup,
  pool,
  readDump,
  root,
  runNode,
  scratch,
  secondaryNode,
  straceUnavailable,
  validates,
  waitFor,
  written,
} from './helpers.js'
import { record } from './reliability.js'

// `.L<token>`: the native addon's (locked by its writer); `.A<token>`: the JS implementation's (judged by age).
const TEMP_NAME = /^\.memory-.*\.json\.(?:[AL][0-9a-f]{8,32}|\d+-\d+)\.tmp$/

/** Looks at every file in a diagnostics directory after a death. */
function inspect(dir: string) {
  const out = { complete: 0, phase1: 0, temps: 0, recorderLines: 0, tornLines: 0, violations: [] as string[] }
  if (!existsSync(dir)) return out
  for (const f of readdirSync(dir)) {
    if (/^recorder-.*\.jsonl(\.1)?$/.test(f)) {
      // Every line but possibly the last (a death mid-write) must be complete JSON.
      let content: string
      try {
        content = readFileSync(join(dir, f), 'utf8')
      } catch (e) {
        // Removed by the retention of a writer still running in the same directory.
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue
        throw e
      }
      const lines = content.split('\n')
      const last = lines.pop()
      if (last) out.tornLines++
      lines.forEach((l, i) => {
        try {
          JSON.parse(l)
          out.recorderLines++
        } catch {
          out.violations.push(`${f}: line ${i + 1} is not JSON`)
        }
      })
      continue
    }
    if (TEMP_NAME.test(f)) {
      out.temps++
      continue
    }
    if (!DUMP_NAME.test(f)) continue
    try {
      const doc = JSON.parse(readFileSync(join(dir, f), 'utf8'))
      if (!validates(doc)) out.violations.push(`${f}: fails the schema`)
      else if (doc.collectionComplete) out.complete++
      else out.phase1++
    } catch (e) {
      // Removed by the retention of a writer still running in the same directory.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue
      out.violations.push(`${f}: ${(e as Error).message}`)
    }
  }
  return out
}

const fds = () => readdirSync('/proc/self/fd').length
const threads = () => Number(/Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1])
const rss = () => process.memoryUsage().rss

// The other Node versions' legs (secondaryNode) run the
// repetition-heavy tests at a fifth of their counts: the write path they test is the same
// native code on every Node version, and the full counts run on the main leg.
const scaled = (n: number) => (secondaryNode ? Math.max(5, Math.round(n / 5)) : n)

describe('crash consistency: kill anywhere', () => {
  const plans: Array<[string, NodeJS.Signals, number]> = [
    ['native', 'SIGKILL', scaled(1000)],
    ['native', 'SIGABRT', 200],
    ['js', 'SIGKILL', 200],
  ]
  for (const [implName, signal, runs] of plans) {
    const impl = implementations.find((i) => i.name === implName)!
    it(`${implName}: ${runs} children dumping in a loop, ${signal} at a random moment: every dump file is complete, valid JSON`, async () => {
      const dir = join(scratch(), 'diag')
      const cwd = scratch() // where an aborting child may leave a core file
      const totals = { complete: 0, phase1: 0, tempsSeen: 0, recorderLines: 0, tornLines: 0, violations: [] as string[] }
      await pool(
        runs,
        2,
        (i) =>
          new Promise<void>((resolve) => {
            const child = spawn(process.execPath, [join(root, '__test__/children/dump-loop.mjs'), dir], {
              cwd,
              env: { ...process.env, ...impl.env },
              stdio: ['ignore', 'pipe', 'ignore'],
            })
            const safety = setTimeout(() => child.kill('SIGKILL'), 20_000)
            child.stdout!.once('data', () => setTimeout(() => child.kill(signal), Math.random() * 40))
            child.on('exit', () => {
              clearTimeout(safety)
              try {
                const seen = inspect(dir)
                totals.complete += seen.complete
                totals.phase1 += seen.phase1
                totals.tempsSeen += seen.temps
                totals.recorderLines += seen.recorderLines
                totals.tornLines += seen.tornLines
                totals.violations.push(...seen.violations.map((v) => `run ${i}: ${v}`))
              } catch (e) {
                // Never leave the pool waiting: an inspection error is a violation.
                totals.violations.push(`run ${i}: inspection failed: ${(e as Error).message}`)
              } finally {
                resolve()
              }
            })
          }),
      )
      // The next dumper that opens the directory sweeps the dead writers' temporary files:
      // the native addon's at once (no one holds their locks), the JS implementation's once
      // they are older than any write takes (10 minutes; their mtimes are moved back here).
      const jsTemps = readdirSync(dir).filter((f) => TEMP_NAME.test(f))
      if (implName === 'js') {
        const old = new Date(Date.now() - 11 * 60_000)
        for (const f of jsTemps) utimesSync(join(dir, f), old, old)
      }
      const next = new impl.MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0, maxFiles: 8 })
      expect((await next.dump('hard', input()))!.complete).toBe(true)
      const leftTemps = readdirSync(dir).filter((f) => TEMP_NAME.test(f))
      record({
        scenario: `Kill anywhere, ${signal}, ${implName}`,
        iterations: runs,
        violations: totals.violations.length + leftTemps.length,
        how: `a Node child dumps in a loop (every other phase 2 overlapping the next phase 1${implName === 'native' ? ', recorder sampling every 10 ms' : ''}); ${signal} 0–40 ms after it is ready; every dump file is parsed and schema-checked after each death${implName === 'native' ? ', and every recorder line but a torn last one' : ''}`,
        details: `files seen after deaths: ${totals.complete} complete, ${totals.phase1} phase-1 only; temporary files seen: ${totals.tempsSeen}, left after the next dumper: ${leftTemps.length}${implName === 'native' ? `; recorder lines checked: ${totals.recorderLines}, torn last lines: ${totals.tornLines}` : ''}`,
      })
      expect(totals.violations).toEqual([])
      expect(leftTemps).toEqual([])
      expect(totals.complete + totals.phase1).toBeGreaterThan(runs / 2)
    }, 600_000)
  }
})

describe('crash consistency: real out-of-memory deaths', () => {
  it(`V8 heap OOM, ${scaled(20)} runs: every dump written before the crash survives and parses`, async () => {
    const runs = scaled(20)
    let violations = 0
    let files = 0
    await pool(
      runs,
      2,
      () =>
        new Promise<void>((resolve) => {
          const dir = join(scratch(), 'diag')
          const child = spawn(process.execPath, ['--max-old-space-size=128', join(root, 'demo/child.mjs'), dir], { stdio: ['ignore', 'pipe', 'pipe'] })
          let out = ''
          let err = ''
          child.stdout!.on('data', (d) => (out += d))
          child.stderr!.on('data', (d) => (err += d))
          child.on('exit', () => {
            const announced = (out.match(/phase-1 dump on disk/g) ?? []).length
            const seen = inspect(dir)
            files += seen.complete + seen.phase1
            if (!/JavaScript heap out of memory/.test(err) || announced < 2 || seen.complete + seen.phase1 !== announced || seen.violations.length) violations++
            resolve()
          })
        }),
    )
    record({
      scenario: 'V8 heap out of memory',
      iterations: runs,
      violations,
      how: 'demo/child.mjs with --max-old-space-size=128: its monitor dumps at 45% and 58% of heap_size_limit, then V8 aborts',
      details: `${files} dump files survived, all valid`,
    })
    expect(violations).toBe(0)
  }, 300_000)

  const limit = 192 << 20
  const cg = makeMemoryCgroup(limit, 'oom')
  if (typeof cg === 'string') console.log(`skipped the kernel OOM test: ${cg}`)
  it.skipIf(typeof cg === 'string')(
    'kernel OOM kill in a 192 MiB memory cgroup, 20 runs: every dump written before the SIGKILL survives and parses',
    () => {
      const group = cg as Exclude<typeof cg, string>
      const runs = 20
      let violations = 0
      let files = 0
      const deaths: string[] = []
      try {
        for (let i = 0; i < runs; i++) {
          const dir = join(scratch(), 'diag')
          const r = group.runNode(join(root, '__test__/children/grow-native.mjs'), [dir, String(limit)], { timeout: 60_000 })
          deaths.push(r.signal ?? String(r.status))
          const announced = (r.stdout.match(/^dumped /gm) ?? []).length
          const seen = inspect(dir)
          files += seen.complete + seen.phase1
          if (r.signal !== 'SIGKILL' || announced !== 2 || seen.complete + seen.phase1 !== 2 || seen.violations.length) violations++
        }
      } finally {
        group.remove()
      }
      record({
        scenario: 'Kernel OOM kill (memory cgroup)',
        iterations: runs,
        violations,
        how: `a child grows Buffers in a ${limit >> 20} MiB cgroup (${group.version}) and dumps at 50% and 75% of the limit until the kernel sends SIGKILL`,
        details: `${files} dump files survived, all valid; deaths: ${[...new Set(deaths)].join(', ')}`,
      })
      expect(deaths.every((d) => d === 'SIGKILL')).toBe(true)
      expect(violations).toBe(0)
    },
    300_000,
  )
})

function tryMountTmpfs(dir: string, size: string): string | null {
  mkdirSync(dir, { recursive: true })
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' })
  return r.status === 0 ? null : `cannot mount a tmpfs here: ${(r.stderr || r.error?.message || '').trim()}`
}

describe.each(implementations)('faults ($name)', ({ name, MemoryDiagnosticsDumper }) => {
  const probeDir = join(scratch(), 'probe')
  const noMount = tryMountTmpfs(probeDir, '64k')
  if (!noMount) spawnSync('umount', [probeDir])
  else console.log(`skipped the disk-full test: ${noMount}`)

  it.skipIf(noMount !== null)('disk full: a clear error, no partial file, no temporary file, earlier dumps intact', async () => {
    const mnt = join(scratch(), 'tmpfs')
    expect(tryMountTmpfs(mnt, '256k')).toBeNull()
    try {
      const dir = join(mnt, 'diag')
      const d = new MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0 })
      const first = await d.dump('hard', input())
      expect(first!.complete).toBe(true)
      const before = readFileSync(written(first), 'utf8')
      const fill = (leavePages: number) => {
        const st = statfsSync(mnt)
        const free = Number(st.bavail) * Number(st.bsize)
        writeFileSync(join(mnt, `filler-${leavePages}`), Buffer.alloc(Math.max(0, free - leavePages * Number(st.bsize))))
      }
      // One free page: phase 1 fits, phase 2 (a larger document, written beside it) does not.
      fill(1)
      const second = await d.dump('critical', input())
      expect(second).toMatchObject({ written: true, complete: false })
      expect(second!.error).toMatch(/^phase 2: could not write temporary file .*(No space left on device|ENOSPC)/)
      expect(readDump(written(second)).collectionComplete).toBe(false)
      // No page left: phase 1 fails cleanly.
      fill(0)
      const third = await d.dump('hard', input())
      expect(third).toMatchObject({ written: false, complete: false })
      expect(third!.error).toMatch(/^phase 1: could not write temporary file .*(No space left on device|ENOSPC)/)
      expect(existsSync(written(third))).toBe(false)
      expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([])
      expect(readFileSync(written(first), 'utf8')).toBe(before)
      expect(d.dumpCount).toBe(3)
      record({
        scenario: `Disk full (tmpfs), ${name}`,
        iterations: 2,
        violations: 0,
        how: 'a 256 KiB tmpfs filled to one free page (phase 2 cannot fit) and then to none (phase 1 cannot)',
        details: 'both dumps resolved with ENOSPC errors; no partial or temporary file; the earlier dump unchanged',
      })
    } finally {
      spawnSync('umount', [mnt])
    }
  })

  it.skipIf(noMount !== null)(
    'read-only file system: found at construction (problem, no slot); after construction a clear error, the slot consumed',
    async () => {
      const mnt = join(scratch(), 'ro')
      expect(tryMountTmpfs(mnt, '256k')).toBeNull()
      try {
        mkdirSync(join(mnt, 'diag'), { mode: 0o700 })
        const before = new MemoryDiagnosticsDumper({ directory: join(mnt, 'diag'), cooldownMs: 0 })
        expect(before.problem).toBeNull()
        if (name === 'native') {
          // The native dumper holds its pre-armed phase-1 file open for writing, so the kernel
          // refuses to remount the file system read-only under it (EBUSY) and its dump lands.
          expect(spawnSync('mount', ['-o', 'remount,ro', mnt]).status).not.toBe(0)
          expect(await before.dump('hard', input())).toMatchObject({ written: true, complete: true })
          before.close()
          // A dumper made after the remount finds the read-only file system at construction.
          for (let i = 0; i < 50 && spawnSync('mount', ['-o', 'remount,ro', mnt]).status !== 0; i++) await new Promise((r) => setTimeout(r, 20))
          const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
          const d = new MemoryDiagnosticsDumper({ directory: join(mnt, 'diag'), cooldownMs: 0 })
          warn.mockRestore()
          expect(d.problem).toMatch(/could not write to diagnostics directory .*(Read-only file system|EROFS)/)
          expect(await d.dump('hard', input())).toMatchObject({ written: false, error: d.problem })
          expect(d.dumpCount).toBe(0)
          return
        }
        expect(spawnSync('mount', ['-o', 'remount,ro', mnt]).status).toBe(0)
        const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
        const d = new MemoryDiagnosticsDumper({ directory: join(mnt, 'diag'), cooldownMs: 0 })
        warn.mockRestore()
        expect(d.problem).toMatch(/could not write to diagnostics directory .*(Read-only file system|EROFS)/)
        expect(await d.dump('hard', input())).toMatchObject({ written: false, error: d.problem })
        expect(d.dumpCount).toBe(0)
        const r = await before.dump('hard', input())
        expect(r).toMatchObject({ written: false, complete: false })
        expect(r!.error).toMatch(/^phase 1: could not create temporary file .*(Read-only file system|EROFS)/)
        expect(before.dumpCount).toBe(1)
        expect(await before.dump('hard', input())).toMatchObject({ written: false, dumpNumber: 2 })
      } finally {
        spawnSync('umount', [mnt])
      }
    },
  )

  it('directory deleted between dumps: recreated (0700) and the dumps go on', async () => {
    const dir = join(scratch(), 'diag')
    const d = new MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0 })
    expect((await d.dump('hard', input()))!.complete).toBe(true)
    rmSync(dir, { recursive: true })
    const r = await d.dump('hard', input())
    expect(r).toMatchObject({ complete: true, dumpNumber: 2 })
    expect(readDump(written(r)).dumpNumber).toBe(2)
  })
})

describe.each(implementations)('load ($name)', ({ name, MemoryDiagnosticsDumper, env }) => {
  it('100 concurrent dump() calls and dumpers in 8 worker threads at once: exact caps, valid files, no leaked threads or descriptors', async () => {
    const warm = new MemoryDiagnosticsDumper({ directory: join(scratch(), 'warm'), cooldownMs: 0 })
    await warm.dump('hard', input())
    const base = scratch()
    mkdirSync(join(base, 'main'), { mode: 0o700 })
    // Made first: a native dumper holds one descriptor, its armed phase-1 file, for its life.
    const main = new MemoryDiagnosticsDumper({ directory: join(base, 'main'), maxDumpsPerSession: 5, cooldownMs: 0, maxFiles: 100 })
    const fdBefore = fds()
    const threadsBefore = threads()
    const code = `
      const { parentPort, workerData } = require('node:worker_threads')
      const v8 = require('node:v8')
      const { MemoryDiagnosticsDumper } = require(${JSON.stringify(join(root, 'index.js'))})
      const d = new MemoryDiagnosticsDumper({ directory: workerData.dir, maxDumpsPerSession: 3, cooldownMs: 0, maxFiles: 100 })
      Promise.all(Array.from({ length: 100 }, () => d.dump('hard', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })))
        .then((r) => parentPort.postMessage(r.filter((x) => x.written).length))`
    const workers = Array.from(
      { length: 8 },
      (_, i) =>
        new Promise<number>((resolve, reject) => {
          const w = new Worker(code, { eval: true, env: { ...process.env, ...env }, workerData: { dir: join(base, `w${i}`) } })
          w.once('message', (n) => w.terminate().then(() => resolve(n)))
          w.once('error', reject)
        }),
    )
    const mainResults = await Promise.all(Array.from({ length: 100 }, () => main.dump('critical', input())))
    const workerCounts = await Promise.all(workers)
    expect(mainResults.filter((r) => r.written)).toHaveLength(5)
    expect(workerCounts).toEqual(Array(8).fill(3))
    let files = 0
    for (const sub of ['main', ...Array.from({ length: 8 }, (_, i) => `w${i}`)]) {
      for (const f of readdirSync(join(base, sub))) {
        readDump(join(base, sub, f))
        files++
      }
    }
    expect(files).toBe(5 + 8 * 3)
    // The workers' threads and descriptors are released as they end: wait for the counts to
    // come back (a leak keeps them up, and the assertions below say so after the wait).
    await waitFor(() => (fds() <= fdBefore && threads() <= threadsBefore ? true : undefined), 'descriptors and threads back', 5000).catch(() => {})
    const fdAfter = fds()
    const threadsAfter = threads()
    record({
      scenario: `Concurrent calls and 8 worker threads, ${name}`,
      iterations: 100 + 8 * 100,
      violations: Math.max(0, fdAfter - fdBefore) + Math.max(0, threadsAfter - threadsBefore),
      how: '100 concurrent dump() calls (cap 5) in the main thread while 8 workers each make 100 (cap 3)',
      details: `${files} valid files (exactly the caps); descriptors ${fdBefore} → ${fdAfter}; threads ${threadsBefore} → ${threadsAfter}`,
    })
    // A leak grows the count; Node may close descriptors of its own meanwhile (seen on Node 22).
    expect(fdAfter).toBeLessThanOrEqual(fdBefore)
    expect(threadsAfter).toBeLessThanOrEqual(threadsBefore)
  })
})

describe('soak', () => {
  // The other Node versions' legs make 3,000 (the growth is read from the 1,010th on).
  const total = secondaryNode ? 3_000 : 10_000
  it(`${total.toLocaleString('en')} dump attempts with cap and cooldown disabled: RSS and descriptors flat`, async () => {
    const native = implementations[0]
    const dir = join(scratch(), 'diag')
    const d = new native.MemoryDiagnosticsDumper({ directory: dir, maxDumpsPerSession: 1_000_000, cooldownMs: 0, maxFiles: 20 })
    const heapStatistics = v8.getHeapStatistics()
    const memoryUsage = process.memoryUsage()
    let complete = 0
    const sample: Array<{ at: number; rss: number; fds: number }> = []
    const started = Date.now()
    for (let i = 0; i < total; i += 10) {
      const batch = await Promise.all(Array.from({ length: 10 }, () => d.dump('hard', { heapStatistics, memoryUsage, session: { i } })))
      complete += batch.filter((r) => r && r.complete).length
      if (i === 1000 || i + 10 >= total) sample.push({ at: i + 10, rss: rss(), fds: fds() })
    }
    const seconds = (Date.now() - started) / 1000
    const [early, late] = sample
    const growthMiB = (late.rss - early.rss) / 2 ** 20
    record({
      scenario: `Soak: ${total.toLocaleString('en')} dumps, native`,
      iterations: total,
      violations: total - complete + (late.fds > early.fds ? 1 : 0),
      how: 'batches of 10 concurrent dumps with cap and cooldown disabled and maxFiles 20',
      details: `${seconds.toFixed(1)} s; RSS ${(early.rss / 2 ** 20).toFixed(1)} MiB after 1,010 → ${(late.rss / 2 ** 20).toFixed(1)} MiB after ${total.toLocaleString('en')} (${growthMiB >= 0 ? '+' : ''}${growthMiB.toFixed(1)} MiB); descriptors ${early.fds} → ${late.fds}; ${readdirSync(dir).length} files kept`,
    })
    expect(complete).toBe(total)
    // A leak grows the count; Node itself may close descriptors of its own meanwhile (Node 24 did).
    expect(late.fds).toBeLessThanOrEqual(early.fds)
    expect(growthMiB).toBeLessThan(32)
    expect(readdirSync(dir).length).toBe(20)
  }, 600_000)
})

describe.each(implementations)('crash consistency: kill at each syscall ($name)', ({ name, env }) => {
  const noStrace = straceUnavailable()
  if (noStrace) console.log(`skipped the syscall-kill sweep: ${noStrace}`)
  it.skipIf(noStrace !== null)(
    'SIGKILL injected at the Nth openat, write, fsync, rename, renameat2, link, linkat, fallocate and flock of every thread, for every N a dump reaches',
    () => {
      const script = join(root, '__test__/children/dump-marked.mjs')
      const kinds = ['openat', 'write', 'fsync', 'rename', 'renameat2', 'link', 'linkat', 'fallocate', 'flock']
      // A clean traced run tells how many calls of each kind each thread makes up to the end of the dump.
      const baseDir = join(scratch(), 'diag')
      const log = join(scratch(), 'trace.log')
      const clean = runNode(script, [baseDir], {
        env,
        prefix: ['strace', '-f', '-qq', '-o', log, '-e', `trace=${kinds.join(',')},access,faccessat,faccessat2`],
      })
      expect(clean.status, clean.stderr).toBe(0)
      const perThread = new Map<string, Record<string, number>>()
      for (const line of readFileSync(log, 'utf8').split('\n')) {
        if (line.includes('mdd-marker-end')) break
        const m = /^(\d+)\s+(\w+)\(/.exec(line)
        if (!m || !kinds.includes(m[2])) continue
        const counts = perThread.get(m[1]) ?? {}
        counts[m[2]] = (counts[m[2]] ?? 0) + 1
        perThread.set(m[1], counts)
      }
      const states = { none: 0, phase1: 0, complete: 0 }
      const violations: string[] = []
      let iterations = 0
      for (const kind of kinds) {
        const max = Math.max(...[...perThread.values()].map((c) => c[kind] ?? 0))
        for (let n = 1; n <= max; n++) {
          iterations++
          const dir = join(scratch(), 'diag')
          runNode(script, [dir], {
            env,
            prefix: ['strace', '-f', '-qq', '-o', '/dev/null', '-e', `trace=${kind}`, '-e', `inject=${kind}:signal=KILL:when=${n}`],
          })
          const seen = inspect(dir)
          violations.push(...seen.violations.map((v) => `${kind} #${n}: ${v}`))
          if (seen.complete) states.complete++
          else if (seen.phase1) states.phase1++
          else states.none++
        }
      }
      record({
        scenario: `Kill at each syscall (strace), ${name}`,
        iterations,
        violations: violations.length,
        how: `strace -f -e inject=<call>:signal=KILL:when=N for ${kinds.join(', ')} and every N up to the most any thread makes by the end of one dump (armed phase 1: write + linkat; phase 2: locked temporary file, fsync, rename)`,
        details: `after the kill: ${states.none} runs with no dump yet, ${states.phase1} with the phase-1 file, ${states.complete} with the complete file; never a partial file`,
      })
      expect(violations).toEqual([])
      expect(states.phase1).toBeGreaterThan(0)
    },
    300_000,
  )
})
