import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { implementations, makeMemoryCgroup, root, scratch } from './helpers.js'

const require = createRequire(import.meta.url)
const { unzipSync } = require('fflate') as typeof import('fflate')
const { bundle } = require('../index.js') as typeof import('../index.js')
const { GENERIC_NAMES, MIN_NAME_CHARS, redactionRules } = require('../lib/cli/bundle/bundle.js')
const cli = join(root, 'bin', 'memory-diagnostics-dumper.js')
const child = join(root, '__test__/children/bundle-child.mjs')
const MIB = 2 ** 20

// Planted identity: the bundling process runs with this HOME, USER and HOSTNAME; the child
// records paths under HOME and the names in its dumps, and the cgroup path holds the user name.
const USER = 'mddplantuser'
const HOST = 'mddplanthost'
function plantedHome(): string {
  const home = join(scratch('bundle'), `home-${USER}`)
  mkdirSync(home)
  return home
}
const identity = (home: string) => ({ ...process.env, HOME: home, USER, LOGNAME: USER, HOSTNAME: HOST })
const run = (args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 60_000 })

/** Every unpacked byte of a bundle, and its entries. */
function unpack(file: string): { entries: Record<string, Buffer>; all: string; raw: string } {
  const raw = readFileSync(file)
  const entries = Object.fromEntries(Object.entries(unzipSync(raw)).map(([k, v]) => [k, Buffer.from(v)]))
  // The names and the unpacked contents; the raw archive too, for the planted (long) strings.
  return {
    entries,
    raw: raw.toString('latin1'),
    all:
      Object.keys(entries).join('\n') +
      Object.values(entries)
        .map((b) => b.toString('utf8'))
        .join('\n'),
  }
}

/** Bundles `dir` as the planted user; checks size, names, redaction and the verdict against the directory's. */
function bundleAndCheck(dir: string, home: string, extra: string[] = []) {
  const out = join(scratch('out'), 'report.zip')
  const r = run(['bundle', dir, '-o', out, ...extra], identity(home))
  expect(r.status, r.stderr).toBe(0)
  expect(r.stdout).toMatch(/^Wrote .*report\.zip/)
  expect(statSync(out).size).toBeLessThanOrEqual(2 * MIB)
  const { entries, all, raw } = unpack(out)
  for (const planted of [home, USER, HOST]) expect(raw).not.toContain(planted)
  const own = /^(memory-.+\.json|recorder-[A-Za-z0-9_-]+\.jsonl(\.1)?|heap-.+\.heapsnapshot|manifest\.json|summary\.txt|timeline\.svg|timeline\.html)$/
  expect(Object.keys(entries).filter((n) => !own.test(n))).toEqual([])
  for (const n of ['manifest.json', 'summary.txt', 'timeline.svg', 'timeline.html']) expect(entries[n]).toBeDefined()
  // No home directory, user name or host name in any unpacked byte.
  expect(all).not.toContain(home)
  expect(all).not.toContain(USER)
  expect(all).not.toContain(HOST)
  // This machine's own host name too, unless it is too short or too generic to be matched
  // as a word (lib/cli/bundle/bundle.js says which; the planted HOST above is always checked).
  if (hostname().length >= MIN_NAME_CHARS && !GENERIC_NAMES.has(hostname().toLowerCase())) {
    expect(all).not.toMatch(new RegExp(`(?<![A-Za-z0-9])${hostname()}(?![A-Za-z0-9])`, 'i'))
  }
  const manifest = JSON.parse(entries['manifest.json'].toString())
  expect(manifest.files.map((f: any) => f.name).sort()).toEqual(
    Object.keys(entries)
      .filter((n) => n !== 'manifest.json')
      .sort(),
  )
  for (const f of manifest.files) expect(f.bytes).toBe(entries[f.name].length)
  expect(manifest.producer.version).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version)
  const verdicts = (target: string) => {
    const j = JSON.parse(run(['inspect', target, '--json']).stdout)
    return j.processes.map((p: any) => ({
      outcome: p.verdict.outcome,
      cause: p.verdict.cause?.kind ?? null,
      growth: p.verdict.growth?.kind ?? null,
      dumps: p.dumps.length,
    }))
  }
  return { out, entries, manifest, verdicts, fromBundle: verdicts(out), stdout: r.stdout }
}

describe('memory-diagnostics-dumper bundle, from real crashes', () => {
  it.each(implementations)('a V8 heap OOM ($name): one file under 2 MiB, the same verdict, nothing that names the user or machine', ({ name, env }) => {
    const home = plantedHome()
    const dir = join(home, '.diag')
    const r = spawnSync(process.execPath, ['--max-old-space-size=96', child, dir, 'v8'], {
      cwd: home,
      encoding: 'utf8',
      env: { ...process.env, ...env, HOME: home, USER, HOSTNAME: HOST },
      timeout: 60_000,
    })
    expect(r.stderr).toMatch(/JavaScript heap out of memory|Reached heap limit/)
    const raw = readdirSync(dir)
      .filter((f) => f.startsWith('memory-'))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('')
    expect(raw).toContain(home) // planted: the documents do hold it
    const b = bundleAndCheck(dir, home)
    const expected = b.verdicts(dir)
    expect(b.fromBundle).toEqual(expected)
    // The native dumper keeps a trail (a crash); the JS fallback writes dumps but no trail.
    expect(expected[0].outcome).toBe(name === 'native' ? 'crashed' : 'unknown')
    expect(expected[0].dumps).toBe(2)
    const summary = b.entries['summary.txt'].toString()
    expect(summary).toContain(name === 'native' ? 'Verdict: crashed' : 'Verdict: unknown')
    expect(b.entries['timeline.svg'].toString()).toMatch(/^<svg /)
    expect(b.manifest.redaction.applied.find((x: any) => x.what === 'home directory').replaced).toBeGreaterThan(0)
  })

  const cg = makeMemoryCgroup(192 * MIB, USER)
  if (typeof cg === 'string') console.log(`skipped the bundle kernel-OOM test: ${cg}`)
  it.skipIf(typeof cg === 'string')('a kernel OOM kill in a memory cgroup whose path holds the user name', () => {
    const group = cg as Exclude<typeof cg, string>
    try {
      const home = plantedHome()
      const dir = join(home, '.diag')
      const r = spawnSync(
        'sh',
        ['-c', 'echo $$ > "$0" && exec "$@"', join(group.dir, 'cgroup.procs'), process.execPath, child, dir, 'kernel', String(192 * MIB)],
        {
          cwd: home,
          encoding: 'utf8',
          env: { ...process.env, HOME: home, USER, HOSTNAME: HOST },
          timeout: 60_000,
        },
      )
      expect(r.signal).toBe('SIGKILL')
      const raw = readdirSync(dir)
        .filter((f) => f.startsWith('memory-'))
        .map((f) => readFileSync(join(dir, f), 'utf8'))
        .join('')
      expect(raw).toMatch(new RegExp(`"path": ?"[^"]*${USER}`)) // the cgroup path
      const b = bundleAndCheck(dir, home)
      expect(b.fromBundle).toEqual(b.verdicts(dir))
      expect(b.fromBundle[0]).toMatchObject({ outcome: 'crashed', cause: 'cgroupOomKill' })
    } finally {
      group.remove()
    }
  })

  it('two processes, one clean and one crashed: the crashed one by default, both with --all', () => {
    const home = plantedHome()
    const dir = join(home, '.diag')
    const env = { ...process.env, HOME: home, USER, HOSTNAME: HOST }
    spawnSync(process.execPath, ['--max-old-space-size=96', child, dir, 'v8'], { cwd: home, env, timeout: 60_000 })
    expect(spawnSync(process.execPath, [child, dir, 'clean'], { cwd: home, env, timeout: 60_000 }).status).toBe(0)
    const whole = JSON.parse(run(['inspect', dir, '--json']).stdout).processes.map((p: any) => p.verdict.outcome)
    expect(whole.sort()).toEqual(['clean exit', 'crashed'])
    const b = bundleAndCheck(dir, home)
    expect(b.fromBundle).toHaveLength(1)
    expect(b.fromBundle[0].outcome).toBe('crashed')
    expect(b.fromBundle[0]).toEqual(b.verdicts(dir).find((v: any) => v.outcome === 'crashed'))
    expect(b.manifest.selection.rule).toBe('the most recent process that crashed')
    const all = bundleAndCheck(dir, home, ['--all'])
    expect(all.fromBundle).toEqual(all.verdicts(dir))
    const clean = bundleAndCheck(dir, home, ['--session', 'bundle-clean'])
    expect(clean.fromBundle.map((v: any) => v.outcome)).toEqual(['clean exit'])
  })
})

describe('memory-diagnostics-dumper bundle, what a directory holds after a crash', () => {
  const fixture = join(root, 'tests/fixtures/inspect/kernel-oom-cgroup-limit')
  it('takes only its own regular files: temporary, foreign, symlinked, FIFO, oversized and half-written files stay out, and nothing blocks', () => {
    const base = scratch()
    const dir = join(base, 'diag')
    mkdirSync(dir)
    for (const f of readdirSync(fixture)) copyFileSync(join(fixture, f), join(dir, f))
    const secret = 'SECRET-NOT-FOR-THE-BUNDLE'
    writeFileSync(join(base, 'outside.json'), JSON.stringify({ schemaVersion: 1, atTrigger: {}, secret }))
    symlinkSync(join(base, 'outside.json'), join(dir, 'memory-kerneloo-2026-11-26T18-58-52-000Z-3.json'))
    symlinkSync(join(base, 'outside.json'), join(dir, 'recorder-linked-1-x.jsonl'))
    writeFileSync(join(dir, 'memory-kerneloo-2026-11-26T18-58-51-387Z-2.json.x1y2.tmp'), `{"secret":"${secret}"`)
    writeFileSync(join(dir, 'notes.txt'), secret)
    writeFileSync(join(dir, 'memory-kerneloo-2026-11-26T18-58-53-000Z-4.json'), `{"schemaVersion":1,"secret":"${secret}"`)
    writeFileSync(join(dir, 'memory-kerneloo-2026-11-26T18-58-54-000Z-5.json'), `{"secret":"${secret}","pad":"${'x'.repeat(9 * MIB)}"}`)
    expect(spawnSync('mkfifo', [join(dir, 'recorder-fifo-1-y.jsonl')]).status).toBe(0)
    // A live trail: a torn last line, as while it is being appended.
    const trail = readdirSync(dir).find((f) => f.startsWith('recorder-kerneloo'))!
    writeFileSync(join(dir, trail), readFileSync(join(dir, trail), 'utf8') + '{"type":"sample","t":"2026-11-26T18:5')
    const out = join(base, 'b.zip')
    const started = Date.now()
    const r = run(['bundle', dir, '-o', out, '--all'])
    expect(r.status, r.stderr).toBe(0)
    expect(Date.now() - started).toBeLessThan(30_000)
    const { entries, all } = unpack(out)
    expect(all).not.toContain(secret)
    expect(Object.keys(entries).sort()).toEqual([...readdirSync(fixture), 'manifest.json', 'summary.txt', 'timeline.html', 'timeline.svg'].sort())
    const m = JSON.parse(entries['manifest.json'].toString())
    const reasons = Object.fromEntries(m.notIncluded.files.map((f: any) => [f.name, f.reason]))
    expect(reasons['memory-kerneloo-2026-11-26T18-58-52-000Z-3.json']).toMatch(/symbolic link/)
    expect(reasons['recorder-linked-1-x.jsonl']).toMatch(/symbolic link/)
    expect(reasons['recorder-fifo-1-y.jsonl']).toMatch(/FIFO/)
    expect(reasons['memory-kerneloo-2026-11-26T18-58-53-000Z-4.json']).toMatch(/not complete JSON/)
    expect(reasons['memory-kerneloo-2026-11-26T18-58-54-000Z-5.json']).toMatch(/over the 8 MiB limit/)
    expect(m.notIncluded).toMatchObject({ temporaryFiles: 1, foreignFiles: 1, tornRecorderLines: 1 })
    expect(existsSync(join(dir, 'recorder-fifo-1-y.jsonl'))).toBe(true)
  })

  it('keeps within the budget: thins the trail first, then drops older dumps, and says so; the verdict stays', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    const T = Date.parse('2026-11-26T10:00:00.000Z')
    const doc = JSON.parse(readFileSync(join(root, 'tests/fixtures/inspect/v8-oom-no-cgroup-limit/memory-demosess-2026-11-26T18-53-00-485Z-1.json'), 'utf8'))
    // A long trail that compresses badly (noisy figures), and eight dumps.
    let state = 12345
    const noise = () => {
      state = (state * 1103515245 + 12345) % 2 ** 31
      return (state / 2 ** 31) * MIB
    }
    const lines = [
      { type: 'start', t: new Date(T).toISOString(), epochMs: T, pid: 77, processStartMs: T - 100, sessionId: 'budget', intervalMs: 100, schemaVersion: 1 },
    ]
    for (let i = 0; i < 40_000; i++) {
      const t = T + i * 100
      lines.push({
        type: 'sample',
        t: new Date(t).toISOString(),
        epochMs: t,
        rssBytes: 100 * MIB + i * 4096 + noise(),
        heapUsedBytes: 50 * MIB + i * 2048 + noise(),
        heapTotalBytes: 60 * MIB + i * 2048,
        heapLimitBytes: 4096 * MIB,
      } as any)
    }
    writeFileSync(join(dir, 'recorder-budget-77-a.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n')
    for (let n = 1; n <= 8; n++) {
      const at = T + n * 400_000
      const d = {
        ...doc,
        pid: 77,
        processStartMs: T - 100,
        sessionId: 'budget',
        dumpNumber: n,
        timestamp: new Date(at).toISOString(),
        filler: Array.from({ length: 3000 }, () => noise()),
      }
      writeFileSync(join(dir, `memory-budget-${new Date(at).toISOString().replace(/[:.]/g, '-')}-${n}.json`), JSON.stringify(d))
    }
    const before = JSON.parse(run(['inspect', dir, '--json']).stdout).processes[0].verdict
    for (const [max, dropsDumps] of [
      ['400K', false],
      ['150K', true],
    ] as const) {
      const out = join(scratch(), 'b.zip')
      const r = run(['bundle', dir, '-o', out, '--max-bytes', max])
      expect(r.status, r.stderr).toBe(0)
      expect(statSync(out).size).toBeLessThanOrEqual(max === '400K' ? 400 * 1024 : 150 * 1024)
      const m = JSON.parse(Buffer.from(unzipSync(readFileSync(out))['manifest.json']).toString())
      expect(m.budget.recorderThinned[0].samplesKept).toBeLessThan(40_000)
      expect(m.budget.note).toMatch(/recorder trails thinned/)
      expect(m.budget.droppedDumps.length > 0).toBe(dropsDumps)
      if (dropsDumps) expect(m.budget.droppedDumps).toContain(`memory-budget-${new Date(T + 400_000).toISOString().replace(/[:.]/g, '-')}-1.json`)
      const after = JSON.parse(run(['inspect', out, '--json']).stdout).processes[0].verdict
      expect([after.outcome, after.cause?.kind ?? null, after.growth.kind]).toEqual([before.outcome, before.cause?.kind ?? null, before.growth.kind])
    }
    // One dump that alone does not fit.
    const big = join(scratch(), 'diag')
    mkdirSync(big)
    writeFileSync(
      join(big, 'memory-budget-2026-11-26T10-00-00-000Z-1.json'),
      JSON.stringify({ ...doc, filler: Array.from({ length: 4 }, () => Array.from({ length: 10_000 }, () => noise())) }),
    )
    expect(run(['bundle', big, '-o', join(scratch(), 'c.zip'), '--max-bytes', '64K']).stderr).toMatch(/cannot be made within 65536 bytes/)
  })

  it('--show prints the manifest and each redaction and writes nothing; inspect reads a bundle as text, JSON, SVG and HTML', () => {
    const home = plantedHome()
    const dir = join(home, 'diag')
    mkdirSync(dir)
    const doc = JSON.parse(readFileSync(join(fixture, 'memory-kerneloo-2026-11-26T18-58-51-387Z-2.json'), 'utf8'))
    doc.cgroup.path = `/user.slice/${USER}/app`
    doc.session = { cwd: `${home}/work`, host: HOST }
    writeFileSync(join(dir, 'memory-kerneloo-2026-11-26T18-58-51-387Z-2.json'), JSON.stringify(doc))
    const cwd = scratch('show')
    const r = spawnSync(process.execPath, [cli, 'bundle', dir, '--show'], { cwd, encoding: 'utf8', env: identity(home) })
    expect(r.status, r.stderr).toBe(0)
    expect(readdirSync(cwd)).toEqual([])
    expect(r.stdout).toContain(`"/user.slice/${USER}/app" → "/user.slice/<user>/app"`)
    expect(r.stdout).toContain(`"${home}/work" → "~/work"`)
    expect(r.stdout).toContain(`"${HOST}" → "<host>"`)
    expect(r.stdout).toMatch(/"format": "memory-diagnostics-dumper bundle"/)
    expect(r.stdout).toMatch(/Nothing was written\.\n$/)
    const out = join(cwd, 'b.zip')
    expect(run(['bundle', dir, '-o', out], identity(home)).status).toBe(0)
    // Never over an existing file.
    expect(run(['bundle', dir, '-o', out], identity(home)).stderr).toMatch(/EEXIST/)
    const t = run(['inspect', out])
    expect(t.status, t.stderr).toBe(0)
    expect(t.stdout).toMatch(/Session kerneloo, process \d+/)
    expect(t.stdout).toContain('a bundle made by memory-diagnostics-dumper')
    const svg = join(cwd, 't.svg')
    const html = join(cwd, 't.html')
    expect(run(['inspect', out, '--json', '--svg', svg, '--html', html]).status).toBe(0)
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg /)
    expect(readFileSync(html, 'utf8')).toMatch(/^<!doctype html>/)
  })

  it('redacts user and host names as whole words, but not names too short or too generic to tell from the words of a dump', () => {
    const red = (rules: any[], text: string) => rules.reduce((t, r) => t.replace(r.re, r.replacement), text)
    // This machine's kind: user `node` (container images), host `vm`.
    const generic = redactionRules({}, { user: 'node', host: 'vm', home: '/home/node' })
    const text = 'vmRss node:internal/perf/usertiming (vm, iframe) /home/node/app/x.js process node 22'
    expect(red(generic, text)).toBe('vmRss node:internal/perf/usertiming (vm, iframe) ~/app/x.js process node 22')
    // A specific user and host: every whole-word mention goes, a `scheme:` word stays.
    const specific = redactionRules({}, { user: 'alice', host: 'buildbox.corp.example', home: '/home/alice' })
    expect(red(specific, 'alice@buildbox:~/x /home/alice/app buildbox.corp.example:8080 Alice buildbox-2 malice alice:internal')).toBe(
      '<user>@<host>:~/x ~/app <host>:8080 <user> <host>-2 malice alice:internal',
    )
  })

  it('bundles a live trail while it is being appended: whole lines only, every time', async () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    for (const f of readdirSync(fixture)) copyFileSync(join(fixture, f), join(dir, f))
    const trail = readdirSync(dir).find((f) => f.startsWith('recorder-'))!
    const last = readFileSync(join(dir, trail), 'utf8')
      .trim()
      .split('\n')
      .filter((l) => l.includes('"sample"'))
      .at(-1)!
    // A writer that appends sample lines in two pieces each, so a reader often meets a torn one.
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `const fs = require('fs'); const fd = fs.openSync(${JSON.stringify(join(dir, trail))}, 'a'); const line = ${JSON.stringify(last)}
         const end = Date.now() + 2000; let i = 0
         while (Date.now() < end) { const half = line.length >> 1; fs.writeSync(fd, line.slice(0, half)); for (let k = 0; k < 2000; k++); fs.writeSync(fd, line.slice(half) + '\\n'); if (++i % 10 === 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1) }`,
      ],
      { stdio: 'ignore' },
    )
    const exited = new Promise((resolve) => writer.on('close', resolve))
    try {
      for (let round = 0; round < 3; round++) {
        const output = join(scratch(), `live-${round}.zip`)
        const r = await bundle(dir, { output, all: true, maxBytes: 8 * MIB })
        const { entries } = unpack(r.path)
        const text = entries[trail].toString('utf8')
        expect(text.endsWith('\n')).toBe(true)
        for (const line of text.trim().split('\n')) expect(() => JSON.parse(line), line.slice(0, 200)).not.toThrow()
      }
    } finally {
      writer.kill()
      await exited
    }
  })

  it('the host API: bundle(dir, options) resolves { path, bytes, files } and rejects bad options by name', async () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    for (const f of readdirSync(fixture)) copyFileSync(join(fixture, f), join(dir, f))
    const output = join(scratch(), 'api.zip')
    const r = await bundle(dir, { output })
    expect(r.path).toBe(output)
    expect(r.bytes).toBe(statSync(output).size)
    expect(r.files).toContain('manifest.json')
    expect(r.files.filter((f) => f.startsWith('memory-'))).toHaveLength(2)
    await expect(bundle(dir, { maxBytes: 10 })).rejects.toThrow(/options\.maxBytes: expected an integer of at least 65536/)
    await expect(bundle(dir, { since: 'yesterday-ish' })).rejects.toThrow(/since: expected a date/)
    await expect(bundle(dir, { outptu: 'x' } as any)).rejects.toThrow(/options\.outptu: unknown option/)
  })
})

describe('memory-diagnostics-dumper bundle --with-snapshots', () => {
  const leak = join(root, '__test__/children/heap-leak.mjs')
  it.skipIf(!implementations.some((i) => i.name === 'native'))('adds the redacted snapshots only, within the budget, and says what it left out', () => {
    const dir = join(scratch(), 'diag')
    const canary = `BUNDLECANARY${process.pid}`
    for (const redact of [true, false]) {
      const r = spawnSync(process.execPath, [leak, dir, '200', canary, JSON.stringify({ redact }), 'critical', '1'], { encoding: 'utf8', timeout: 60_000 })
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout.trim().split('\n')[0]).heapSnapshot).toMatchObject({ status: 'written', redacted: redact })
    }
    const heaps = readdirSync(dir).filter((f) => f.endsWith('.heapsnapshot'))
    expect(heaps).toHaveLength(2)
    // The unredacted one holds the canary; no bundle may.
    expect(heaps.some((h) => readFileSync(join(dir, h), 'utf8').includes(canary))).toBe(true)
    const out = join(scratch(), 'with.zip')
    const r = run(['bundle', dir, '-o', out, '--all', '--with-snapshots', '--max-bytes', '32MiB'])
    expect(r.status, r.stderr).toBe(0)
    const { entries, all } = unpack(out)
    const packed = Object.keys(entries).filter((n) => n.endsWith('.heapsnapshot'))
    expect(packed).toHaveLength(1)
    expect(all).not.toContain(canary)
    const snapshot = JSON.parse(entries[packed[0]].toString('utf8'))
    expect(snapshot.snapshot.meta.node_fields).toContain('name')
    const m = JSON.parse(entries['manifest.json'].toString())
    expect(m.notIncluded.files.find((f: any) => f.reason.startsWith('not redacted'))).toBeDefined()
    // Without the flag: no snapshot, and the manifest says why.
    const plainOut = join(scratch(), 'without.zip')
    expect(run(['bundle', dir, '-o', plainOut, '--all']).status).toBe(0)
    const without = unpack(plainOut)
    expect(Object.keys(without.entries).filter((n) => n.endsWith('.heapsnapshot'))).toEqual([])
    expect(
      JSON.parse(without.entries['manifest.json'].toString()).notIncluded.files.filter((f: any) => /only with --with-snapshots/.test(f.reason)),
    ).toHaveLength(2)
    // A budget the snapshot does not fit: the bundle keeps to it and says the snapshot was left out.
    const tightOut = join(scratch(), 'tight.zip')
    const tight = run(['bundle', dir, '-o', tightOut, '--all', '--with-snapshots', '--max-bytes', '96KiB'])
    expect(tight.status, tight.stderr).toBe(0)
    expect(statSync(tightOut).size).toBeLessThanOrEqual(96 * 1024)
    const t = unpack(tightOut)
    expect(Object.keys(t.entries).filter((n) => n.endsWith('.heapsnapshot'))).toEqual([])
    expect(JSON.stringify(JSON.parse(t.entries['manifest.json'].toString()))).toMatch(/heap snapshot\(s\) left out/)
  })
})
