// The write path's promises: no dump replaces another, temporary files of live writers
// survive writers in other PID namespaces, retention that can be trusted, one recorder
// trail per process, and phase 1 that lands in a crisis (descriptors exhausted, disk full).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  dumpFiles,
  implementations,
  input,
  MemoryDiagnosticsDumper as NativeDumper,
  RECORDER_NAME,
  readDump,
  recorderFile,
  recorderFiles,
  root,
  runNode,
  scratch,
  waitFor,
  written,
} from './helpers.js'
import { record } from './reliability.js'

/** Parses a recorder file (every line complete: these tests end their recorders cleanly or kill them between samples). */
function readRecorder(path: string) {
  const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean)
  const records = lines.flatMap((l) => {
    try {
      return [JSON.parse(l)]
    } catch {
      return [] // a torn last line after a SIGKILL
    }
  })
  return { records, samples: records.filter((r) => r.type === 'sample') }
}
const require = createRequire(import.meta.url)
const hooks = (() => {
  const dir = join(root, 'target', 'test-hooks')
  return require(join(dir, readdirSync(dir).find((f) => f.endsWith('.node'))!))
})()
const HookedDumper = hooks.MemoryDiagnosticsDumper as typeof NativeDumper

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const stampOf = (ms: number) => new Date(ms).toISOString().replace(/[:.]/g, '-')

function unshareUnavailable(): string | null {
  const r = spawnSync('unshare', ['--pid', '--fork', 'true'], { encoding: 'utf8' })
  if (r.error) return `unshare is not installed (${(r.error as Error).message})`
  return r.status === 0 ? null : `unshare --pid cannot run here: ${r.stderr.trim()}`
}

function tryMountTmpfs(dir: string, size: string): string | null {
  mkdirSync(dir, { recursive: true })
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { encoding: 'utf8' })
  return r.status === 0 ? null : `cannot mount a tmpfs here: ${(r.stderr || r.error?.message || '').trim()}`
}

describe.each(implementations)('write path ($name)', ({ name: impl, MemoryDiagnosticsDumper, env }) => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('no dump replaces another: reset in the same millisecond and two dumpers with one sessionId each get their own file', async () => {
    const dir = join(scratch(), 'diag')
    const opts = { directory: dir, sessionId: 'same', cooldownMs: 0, maxDumpsPerSession: 1_000_000, maxFiles: 1000 }
    const a = new MemoryDiagnosticsDumper(opts)
    const b = new MemoryDiagnosticsDumper(opts)
    const calls: Array<[string, Promise<any>]> = []
    const collided = (rs: any[]) => rs.some((r) => /-\d+\.\d+\.json$/.test(r.filePath))
    // Synchronous back to back, so that names chosen in one millisecond collide. How often two
    // calls share a millisecond depends on the machine, so rounds go on, 40 at a time, until
    // collisions were seen (at most 280 rounds). The JS implementation's names take their time
    // from Date, which is held still here: on a loaded machine its calls could all fall in
    // different milliseconds. The addon's clock is its own, and its calls are microseconds apart.
    if (impl === 'js') vi.useFakeTimers({ toFake: ['Date'] })
    for (let i = 0; i < 280; i++) {
      calls.push([`a${i}`, a.dump('hard', input({ session: { call: `a${i}` } }))])
      a.resetForNewSession()
      calls.push([`r${i}`, a.dump('hard', input({ session: { call: `r${i}` } }))])
      calls.push([`b${i}`, b.dump('hard', input({ session: { call: `b${i}` } }))])
      if (i % 40 === 39 && collided(await Promise.all(calls.map(([, p]) => p)))) break
    }
    const results = await Promise.all(calls.map(([, p]) => p))
    vi.useRealTimers()
    expect(results.every((r) => r.written && r.complete)).toBe(true)
    const paths = results.map((r) => r.filePath)
    expect(new Set(paths).size).toBe(calls.length)
    calls.forEach(([call], i) => {
      const doc = readDump(paths[i])
      expect(doc.session.call).toBe(call)
      expect(doc.processStartMs).toBe(readDump(paths[0]).processStartMs)
    })
    // Collisions did happen, and took the next free names.
    const collisions = paths.filter((p) => /-\d+\.\d+\.json$/.test(p)).length
    record({
      scenario: `Name collisions, ${impl}`,
      iterations: calls.length,
      violations: calls.length - new Set(paths).size,
      how: `two dumpers with one sessionId and directory, and dump(); resetForNewSession(); dump() back to back, ${calls.length / 3} rounds`,
      details: `${calls.length} distinct files, each holding its own call's document; ${collisions} took the next free name`,
    })
    expect(collisions).toBeGreaterThan(0)
    expect(dumpFiles(dir)).toHaveLength(calls.length)
    // processStartMs names this process: its start, as the OS reports it, within a second.
    expect(Math.abs(readDump(paths[0]).processStartMs - (Date.now() - process.uptime() * 1000))).toBeLessThan(1000)
  })

  it('retention does not trust future-dated names: with files from a clock a day ahead, fresh dumps are kept', async () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir, { mode: 0o700 })
    const ahead = [1, 2, 3].map((i) => `memory-ahead-${stampOf(Date.now() + 86_400_000 + i)}-${i}.json`)
    for (const f of ahead) writeFileSync(join(dir, f), '{}')
    const d = new MemoryDiagnosticsDumper({ directory: dir, maxFiles: 3, cooldownMs: 0 })
    const paths: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = await d.dump('hard', input())
      expect(r).toMatchObject({ written: true, complete: true })
      paths.push(written(r))
      // The promise said written: the file is there.
      expect(existsSync(written(r))).toBe(true)
    }
    const lost = paths.filter((f) => !existsSync(f)).length
    record({
      scenario: `Retention with a clock a day ahead, ${impl}`,
      iterations: 3,
      violations: lost,
      how: 'three dumps named by a clock a day ahead in the directory, then three fresh dumps with maxFiles 3',
      details: `fresh dumps kept: ${3 - lost} of 3; future-dated ones removed: ${ahead.filter((f) => !existsSync(join(dir, f))).length} of 3`,
    })
    expect(dumpFiles(dir)).toEqual(paths.sort())
    expect(ahead.filter((f) => existsSync(join(dir, f)))).toEqual([])
  })

  it('retention runs at construction and after phase 1: 12 processes that die right after phase 1 leave at most maxFiles + 1 dumps, and the next dumper trims to maxFiles', () => {
    const dir = join(scratch(), 'diag')
    for (let i = 0; i < 12; i++) {
      const r = runNode(join(root, '__test__/children/dump-and-exit.mjs'), [dir, 'exit'], { env })
      expect(r.status, r.stderr).toBe(0)
    }
    const left = dumpFiles(dir)
    expect(left.length).toBeLessThanOrEqual(4)
    left.forEach(readDump)
    new MemoryDiagnosticsDumper({ directory: dir, maxFiles: 3 })
    expect(dumpFiles(dir)).toEqual(left.slice(-3))
  })

  const noUnshare = unshareUnavailable()
  if (noUnshare) console.log(`skipped the PID-namespace test: ${noUnshare}`)
  it.skipIf(noUnshare !== null)(
    'writers in separate PID namespaces sharing a directory never remove each other’s live temporary files',
    async () => {
      const dir = join(scratch(), 'diag')
      mkdirSync(dir, { mode: 0o700 })
      const count = 60
      const script = join(root, '__test__/children/ns-writer.mjs')
      // Three writers whose pids mean nothing to each other: one in this namespace, one as
      // pid 1 of a new namespace, one as pid 3 of another (pid 2 there has exited).
      const argvs = [
        [process.execPath, script, dir, String(count)],
        ['unshare', '--pid', '--fork', process.execPath, script, dir, String(count)],
        ['unshare', '--pid', '--fork', 'sh', '-c', `true; "$0" "$@"; exit $?`, process.execPath, script, dir, String(count)],
      ]
      const outs = await Promise.all(
        argvs.map(
          (argv) =>
            new Promise<any>((resolve) => {
              const child = spawn(argv[0], argv.slice(1), { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
              let out = ''
              let err = ''
              child.stdout!.on('data', (d) => (out += d))
              child.stderr!.on('data', (d) => (err += d))
              child.on('exit', (code) => {
                try {
                  resolve(JSON.parse(out.trim().split('\n').pop()!))
                } catch {
                  resolve({ written: 0, complete: 0, errors: [`exit ${code}: ${err.slice(0, 500)}`] })
                }
              })
            }),
        ),
      )
      const errors = outs.flatMap((o) => o.errors)
      record({
        scenario: `Writers in three PID namespaces, ${impl}`,
        iterations: 3 * count,
        violations: errors.length + outs.reduce((n, o) => n + (count - o.complete), 0),
        how: 'three processes (this namespace, pid 1 of a new one, pid 3 of another; unshare --pid --fork) dump 60 times each into one directory, a new dumper (and its sweep) every 5 dumps, every other phase 2 overlapping the next dump',
        details: `${outs.reduce((n, o) => n + o.complete, 0)} complete dumps; failures: ${errors.length}`,
      })
      expect(errors).toEqual([])
      expect(outs.map((o) => [o.written, o.complete])).toEqual(Array(3).fill([count, count]))
      expect(dumpFiles(dir)).toHaveLength(3 * count)
      dumpFiles(dir).forEach(readDump)
    },
    120_000,
  )

  it('phase 1 with the descriptors exhausted (EMFILE)', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir, { mode: 0o700 })
    const run = spawnSync('sh', ['-c', `ulimit -n 64 && exec "$0" "$@"`, process.execPath, join(root, '__test__/children/emfile.mjs'), dir], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, ...env },
      timeout: 60_000,
    })
    expect(run.status, run.stderr).toBe(0)
    const out = JSON.parse(run.stdout.trim().split('\n').pop()!)
    expect(out.exhaustedWith).toBe('EMFILE')
    if (impl === 'native') {
      record({
        scenario: 'Descriptors exhausted (EMFILE), native',
        iterations: 1,
        violations: out.result.written ? 0 : 1,
        how: 'ulimit -n 64; the dumper is made, then /dev/null is opened until EMFILE, then dump()',
        details: `phase 1 ${out.result.written ? 'landed (armed: one write, one linkat)' : `failed: ${out.result.error}`}; phase 2 ${out.result.complete ? 'complete' : 'failed (it needs descriptors), the phase-1 file left in place'}`,
      })
      // The armed file needs no new descriptor: phase 1 lands.
      expect(out.result).toMatchObject({ written: true })
      const doc = readDump(out.result.filePath)
      expect(doc.collection.phase1Path).toBe('armed')
    } else {
      // The JS implementation must open a file: it reports the failure (documented).
      expect(out.result).toMatchObject({ written: false, complete: false })
      expect(out.result.error).toMatch(/^phase 1: could not create temporary file .*(EMFILE|too many open files)/i)
    }
  })

  const probe = join(scratch(), 'probe')
  const noMount = tryMountTmpfs(probe, '64k')
  if (!noMount) spawnSync('umount', [probe])
  it.skipIf(noMount !== null)('phase 1 on a file system that filled up after construction (ENOSPC on a small tmpfs)', async () => {
    const mnt = join(scratch(), 'tmpfs')
    expect(tryMountTmpfs(mnt, '512k')).toBeNull()
    try {
      const dir = join(mnt, 'diag')
      mkdirSync(dir, { mode: 0o700 })
      const d = new MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0 })
      const st = statfsSync(mnt)
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(Number(st.bavail) * Number(st.bsize)))
      expect(Number(statfsSync(mnt).bavail)).toBe(0)
      const r = await d.dump('critical', input())
      if (impl === 'native') {
        record({
          scenario: 'Disk filled after construction (tmpfs), native',
          iterations: 1,
          violations: r!.written ? 0 : 1,
          how: 'a 512 KiB tmpfs, the dumper made, then filled to 0 free blocks, then dump()',
          details: `phase 1 ${r!.written ? 'landed in its reserved space' : 'failed'}; phase 2 failed with ENOSPC, the phase-1 file left in place`,
        })
        // Its space was reserved when the dumper was made: phase 1 lands; phase 2 cannot.
        expect(r).toMatchObject({ written: true, complete: false })
        expect(r!.error).toMatch(/^phase 2: .*(No space left on device|ENOSPC)/)
        const doc = readDump(written(r))
        expect(doc).toMatchObject({ collectionComplete: false, trigger: 'critical', collection: { phase1Path: 'armed' } })
      } else {
        expect(r).toMatchObject({ written: false, complete: false })
        expect(r!.error).toMatch(/^phase 1: could not write temporary file .*(No space left on device|ENOSPC)/)
      }
      expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([])
    } finally {
      spawnSync('umount', [mnt])
    }
  })
})

describe('pre-armed phase 1 (native)', () => {
  it('the first dump uses the file armed at construction; a forced unarmed dump and one into a deleted directory take the named path; both are complete', async () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir, { mode: 0o700 })
    const d = new HookedDumper({ directory: dir, cooldownMs: 0, maxDumpsPerSession: 100 })
    expect(hooks.testArmedBytes(d)).toBe(64 * 1024)
    // Armed: no name exists for the file before the link.
    expect(readdirSync(dir)).toEqual([])
    const r1 = await d.dump('hard', input())
    expect(readDump(written(r1)).collection.phase1Path).toBe('armed')
    expect(statSync(written(r1)).size).toBe(readFileSync(written(r1)).length)
    // Re-armed off the JS thread after the dump.
    expect(hooks.testArmedBytes(d)).toBe(64 * 1024)
    hooks.testSetArming(d, false)
    expect(hooks.testArmedBytes(d)).toBeNull()
    const r2 = await d.dump('hard', input())
    expect(r2).toMatchObject({ written: true, complete: true })
    expect(readDump(written(r2)).collection.phase1Path).toBe('unarmed')
    hooks.testSetArming(d, true)
    rmSync(dir, { recursive: true })
    const r3 = await d.dump('hard', input())
    expect(r3).toMatchObject({ written: true, complete: true })
    expect(readDump(written(r3)).collection.phase1Path).toBe('unarmed')
    const r4 = await d.dump('hard', input())
    expect(readDump(written(r4)).collection.phase1Path).toBe('armed')
    expect(readdirSync(dir).sort()).toEqual([r3, r4].map((r) => written(r).slice(dir.length + 1)).sort())
    // close() ends dumping, so it releases the armed file (its descriptor and reserved blocks).
    for (let i = 0; i < 200 && hooks.testArmedBytes(d) == null; i++) await new Promise((r) => setTimeout(r, 10))
    expect(hooks.testArmedBytes(d)).toBe(64 * 1024)
    d.close()
    expect(hooks.testArmedBytes(d)).toBeNull()
    // Never re-armed after: re-arming runs on the one background thread, in order, so once
    // another dumper's dump has completed there, everything queued before it has run.
    const later = new HookedDumper({ directory: join(scratch(), 'later'), cooldownMs: 0 })
    expect(await later.dump('hard', input())).toMatchObject({ written: true, complete: true })
    later.close()
    expect(hooks.testArmedBytes(d)).toBeNull()
  })
})

describe('one recorder trail per process (native)', () => {
  it('two processes with one sessionId keep separate files; the killed one has no exit record, the closed one has', async () => {
    const dir = join(scratch(), 'diag')
    const start = (mode: string) =>
      new Promise<{ child: ReturnType<typeof spawn>; exited: Promise<void> }>((resolve) => {
        const child = spawn(process.execPath, [join(root, '__test__/children/recorder-child.mjs'), dir, 'shared', mode], {
          cwd: root,
          stdio: ['ignore', 'pipe', 'inherit'],
        })
        const exited = new Promise<void>((r) => child.on('exit', () => r()))
        child.stdout!.once('data', () => resolve({ child, exited }))
      })
    const [hung, closing] = await Promise.all([start('hang'), start('close')])
    hung.child.kill('SIGKILL')
    await Promise.all([hung.exited, closing.exited])
    const files = recorderFiles(dir, 'shared')
    expect(files).toHaveLength(2)
    const trails = files.map((f) => readRecorder(f).records)
    const byPid = new Map(trails.map((t) => [t[0].pid, t]))
    expect(trails.every((t) => t[0].type === 'start' && t[0].sessionId === 'shared' && t[0].processStartMs > 0)).toBe(true)
    expect(byPid.get(hung.child.pid)!.some((x) => x.type === 'exit')).toBe(false)
    expect(byPid.get(closing.child.pid)!.at(-1)).toMatchObject({ type: 'exit', reason: 'close' })
  })

  it("another dumper's retention never removes a live recorder's file", async () => {
    const dir = join(scratch(), 'diag')
    const a = new NativeDumper({ directory: dir, sessionId: 'livea', maxFiles: 1, cooldownMs: 0, recorder: { intervalMs: 10 } })
    const c = new NativeDumper({ directory: dir, sessionId: 'livec', maxFiles: 1, cooldownMs: 0, recorder: { intervalMs: 10 } })
    await sleep(100)
    for (let i = 0; i < 3; i++) expect((await c.dump('hard', input()))!.complete).toBe(true)
    new NativeDumper({ directory: dir, maxFiles: 1 }) // construction-time retention too
    const fa = recorderFile(dir, 'livea')
    const fc = recorderFile(dir, 'livec')
    const size = statSync(fa).size
    await waitFor(() => (statSync(fa).size > size ? true : undefined), 'the live recorder appending')
    a.close()
    c.close()
    await waitFor(() => ([fa, fc].every((f) => readRecorder(f).records.at(-1)?.type === 'exit') ? true : undefined), 'both exit records')
    for (const f of [fa, fc]) expect(readRecorder(f).records.at(-1)).toMatchObject({ type: 'exit', reason: 'close' })
    expect(dumpFiles(dir)).toHaveLength(1)
  })

  it('resetForNewSession() ends the trail with an exit record (sessionReset) and starts a new file', async () => {
    const dir = join(scratch(), 'diag')
    const d = new NativeDumper({ directory: dir, sessionId: 'first', recorder: { intervalMs: 20 } })
    await sleep(60)
    d.resetForNewSession('second')
    await sleep(60)
    d.resetForNewSession() // same id: still a new trail
    await sleep(60)
    d.close()
    await waitFor(
      () => (recorderFiles(dir, 'second').every((f) => readRecorder(f).records.at(-1)?.type === 'exit') ? true : undefined),
      'the exit records of the second session',
    )
    const first = readRecorder(recorderFile(dir, 'first')).records
    expect(first[0]).toMatchObject({ type: 'start', sessionId: 'first' })
    expect(first.at(-1)).toMatchObject({ type: 'exit', reason: 'sessionReset' })
    const second = recorderFiles(dir, 'second').map((f) => readRecorder(f).records)
    expect(second).toHaveLength(2)
    for (const t of second) expect(t[0]).toMatchObject({ type: 'start', sessionId: 'second', pid: process.pid })
    expect(second.map((t) => t.at(-1).reason).sort()).toEqual(['close', 'sessionReset'])
  })

  it('a FIFO planted at a recorder name does not block the recorder or the watchdog', async () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir, { mode: 0o700 })
    expect(spawnSync('mkfifo', [join(dir, 'recorder-fifo.jsonl')]).status).toBe(0)
    const d = new NativeDumper({ directory: dir, sessionId: 'fifo', recorder: { intervalMs: 10 }, watchdog: { rssBytes: 1, stallMs: 10_000 } })
    await waitFor(() => (readRecorder(recorderFile(dir, 'fifo')).samples.length > 3 ? true : undefined), 'four samples')
    d.close()
    await waitFor(() => (readRecorder(recorderFile(dir, 'fifo')).records.at(-1)?.type === 'exit' ? true : undefined), 'the exit record')
    const { records, samples } = readRecorder(recorderFile(dir, 'fifo'))
    expect(samples.length).toBeGreaterThan(3)
    expect(records.at(-1)).toMatchObject({ type: 'exit', reason: 'close' })
  })

  it('12 processes with the recorder on and no dump leave at most maxFiles recorder files', () => {
    const dir = join(scratch(), 'diag')
    for (let i = 0; i < 12; i++) {
      const r = runNode(join(root, '__test__/children/dump-and-exit.mjs'), [dir, 'recorder', `short${i}`])
      expect(r.status, r.stderr).toBe(0)
    }
    const recorders = readdirSync(dir).filter((f) => RECORDER_NAME.test(f))
    expect(recorders.length).toBeGreaterThan(0)
    expect(recorders.length).toBeLessThanOrEqual(3)
  })
})
