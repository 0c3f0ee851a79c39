// The next start knows how the last one ended (issue 37, docs/previous-run.md): real deaths (a
// V8 heap OOM, a kernel OOM kill in a memory cgroup, an uncaught exception, a clean exit) are
// each answered once per directory by the next start, with inspect's verdict, on both
// implementations; a running process is never taken for a dead one; hostile directories
// never make it throw, block or read more than its bounds.
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, symlinkSync, truncateSync, writeFileSync, existsSync, utimesSync } from 'node:fs'
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
        /^The last run of this program \(pid \d+\) at \d\d:\d\d:\d\d UTC crashed: .*JS heap grew by \d+ MiB.*\. Evidence: npx memory-diagnostics-dumper bundle \S+ --pid \d+$/,
      )
      // The command it gives bundles that process.
      const out = join(scratch('prev-v8-zip'), 'evidence.zip')
      const cmd = a.bundleCommand.replace(/^npx memory-diagnostics-dumper bundle /, '').split(' ')
      const b = spawnSync(process.execPath, [cli, 'bundle', dir, ...cmd.slice(1), '-o', out], { encoding: 'utf8', timeout: 60_000 })
      expect(b.status, b.stderr).toBe(0)
      const manifest = JSON.parse(Buffer.from(unzipSync(readFileSync(out))['manifest.json']).toString())
      expect(manifest.selection.processes.map((p: any) => p.pid)).toEqual([a.pid])
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
      expect(a).toMatchObject({ outcome: 'unknown', died: false, trail: false, liveness: 'none', cause: null })
      expect(a.evidence).toMatch(/no recorder file/)
      expect(a.files).toHaveLength(2)
      expect(a.line).toMatch(
        /^The last run of this program \(pid \d+\) wrote 2 memory dumps \(JS heap grew by \d+ MiB\); whether it crashed is unknown, as it kept no recorder trail\. Evidence: .* --pid \d+$/,
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
    expect(r.problem).toMatch(/^options: /)
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
