import { chownSync, existsSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { DUMP_NAME, dumpFiles, implementations, input, isRoot, mode, readDump, root, runNode, scratch, waitFor, written } from './helpers.js'
import { record } from './reliability.js'

describe.each(implementations)('security ($name)', ({ name, MemoryDiagnosticsDumper, env }) => {
  it('refuses a directory owned by another user, naming the path and the reason', async () => {
    if (!isRoot) {
      console.log('skipped the foreign-owner test: needs root to chown a directory')
      return
    }
    const dir = join(scratch(), 'foreign')
    mkdirSync(dir, { mode: 0o700 })
    chownSync(dir, 65534, 65534)
    const d = new MemoryDiagnosticsDumper({ directory: dir })
    expect(d.problem).toMatch(/owned by uid 65534/)
    const r = await d.dump('hard', input())
    expect(r).toMatchObject({ written: false, complete: false })
    expect(d.dumpCount).toBe(0)
    expect(r!.error).toContain(dir)
    expect(r!.error).toMatch(/owned by uid 65534, not by this process's uid 0/)
    expect(readdirSync(dir)).toEqual([])
  })

  it('follows a symlink in the directory path, but never a link planted at a name it writes or deletes', async () => {
    const base = scratch()
    const real = join(base, 'real-diagnostics')
    mkdirSync(real, { mode: 0o700 })
    symlinkSync(real, join(base, 'linked'))
    const victim = join(base, 'victim.txt')
    writeFileSync(victim, 'precious')
    // Links at dump names older than anything written: retention must remove the link only.
    for (let i = 1; i <= 5; i++) symlinkSync(victim, join(real, `memory-planted-2020-01-01T00-00-00-00${i}Z-1.json`))
    // A link at a stale temporary name: the sweep must remove the link only.
    // (Temporary names of this shape are judged by age: the link is dated 20 minutes back.)
    symlinkSync(victim, join(real, '.memory-planted-2020-01-01T00-00-00-000Z-1.json.0-1.tmp'))
    lutimesSync(join(real, '.memory-planted-2020-01-01T00-00-00-000Z-1.json.0-1.tmp'), new Date(Date.now() - 1_200_000), new Date(Date.now() - 1_200_000))
    const d = new MemoryDiagnosticsDumper({ directory: join(base, 'linked'), maxFiles: 2, cooldownMs: 0 })
    for (let i = 0; i < 3; i++) await d.dump('hard', input())
    expect(readFileSync(victim, 'utf8')).toBe('precious')
    if (name === 'native') {
      // A link planted at the recorder's name: the recorder refuses to write through it.
      symlinkSync(victim, join(real, 'recorder-linked.jsonl'))
      const rec = new MemoryDiagnosticsDumper({ directory: real, sessionId: 'linked', recorder: { intervalMs: 10 } })
      // Its own trail has begun (the thread has taken a name and written to it).
      await waitFor(() => (readdirSync(real).some((f) => f.startsWith('recorder-linked-')) ? true : undefined), "the recorder's own trail")
      rec.close()
      expect(readFileSync(victim, 'utf8')).toBe('precious')
      rmSync(join(real, 'recorder-linked.jsonl'))
      // It wrote its own trail under a name of its own instead.
      const own = readdirSync(real).filter((f) => f.startsWith('recorder-linked-'))
      expect(own).toHaveLength(1)
      expect(lstatSync(join(real, own[0])).isFile()).toBe(true)
      rmSync(join(real, own[0]))
    }
    const left = readdirSync(real)
    expect(left.filter((f) => f.includes('planted'))).toEqual([])
    expect(left).toHaveLength(2)
    for (const f of left) expect(lstatSync(join(real, f)).isSymbolicLink()).toBe(false)
  })

  it('keeps hostile session ids inside the directory with a well-formed name', async () => {
    const dir = join(scratch(), 'diag')
    const hostile = ['../../etc/passwd', '/abs/path', 'a\0b', 'tab\tnew\nline\u0007', 'x'.repeat(100_000), '..', '', '💥💥💥', 'C:\\Windows\\x']
    const d = new MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0, maxDumpsPerSession: 1 })
    for (const id of hostile) {
      d.resetForNewSession(id)
      const r = await d.dump('hard', input())
      expect(r!.complete).toBe(true)
      expect(written(r).startsWith(dir + '/')).toBe(true)
      expect(written(r).slice(dir.length + 1)).toMatch(DUMP_NAME)
    }
    expect(dumpFiles(dir)).toHaveLength(hostile.length)
    expect(readdirSync(join(dir, '..'))).toEqual(['diag'])
  })

  it('writes no environment variable or argument value, only the declared session fields', () => {
    const canary = `CANARY${Date.now()}`
    const dir = join(scratch(), 'diag')
    const script = join(scratch(), 'canary.mjs')
    writeFileSync(
      script,
      `import v8 from 'node:v8'
       import { createRequire } from 'node:module'
       const { MemoryDiagnosticsDumper } = createRequire(${JSON.stringify(join(root, 'index.js'))})(${JSON.stringify(join(root, 'index.js'))})
       const d = new MemoryDiagnosticsDumper({ directory: process.argv[2] })
       const r = await d.dump('hard', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage(), session: { declaredField: 1, label: 'ok' } })
       console.log(r.filePath)`,
    )
    const r = runNode(script, [dir, `--api-key=${canary}-ARGV`, `${canary}-ARG2`], {
      env: { ...env, SECRET_TOKEN: `${canary}-ENV`, AWS_SECRET_ACCESS_KEY: `${canary}-ENV2` },
    })
    expect(r.status, r.stderr).toBe(0)
    const text = readFileSync(r.stdout.trim(), 'utf8')
    expect(text).not.toContain(canary)
    expect(text).not.toMatch(/SECRET_TOKEN|AWS_SECRET|api-key/)
    const doc = JSON.parse(text)
    expect(doc.session).toEqual({ declaredField: 1, label: 'ok' })
    expect(doc.runtime.implementation).toBe(name)
  })

  it('1,000 dumps across 100 sessions leave at most maxFiles dumps and never touch other files', async () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir, { mode: 0o700 })
    const foreign = ['notes.txt', 'memory-report.json', 'memory-abc-2026.json', '.hidden', 'memory-a-2026-01-01T00-00-00-000Z-1.json.bak']
    for (const f of foreign) writeFileSync(join(dir, f), f)
    const d = new MemoryDiagnosticsDumper({
      directory: dir,
      maxFiles: 15,
      cooldownMs: 0,
      maxDumpsPerSession: 10,
      // Native: one recorder file per session, bounded by maxFiles too.
      ...(name === 'native' && { recorder: { intervalMs: 10 } }),
    })
    let written = 0
    for (let s = 0; s < 100; s++) {
      d.resetForNewSession(`session${s}`)
      const rs = await Promise.all(Array.from({ length: 10 }, () => d.dump('hard', input())))
      written += rs.filter((r) => r.complete).length
    }
    d.close()
    const ours = dumpFiles(dir)
    const recorders = readdirSync(dir).filter((f) => f.startsWith('recorder-'))
    if (name === 'native') expect(recorders.length).toBeGreaterThan(1)
    expect(recorders.length).toBeLessThanOrEqual(15)
    expect(written).toBe(1000)
    expect(ours.length).toBeLessThanOrEqual(15)
    ours.forEach(readDump)
    for (const f of foreign) expect(readFileSync(join(dir, f), 'utf8')).toBe(f)
    expect(mode(dir)).toBe(0o700)
    record({
      scenario: `Bounded disk use, ${name}`,
      iterations: 1000,
      violations: Math.max(0, ours.length - 15) + foreign.filter((f) => !existsSync(join(dir, f))).length,
      how: '1,000 dumps over 100 sessions with maxFiles 15, beside 5 files that only look like ours',
      details: `${ours.length} dumps${name === 'native' ? ` and ${recorders.length} recorder files` : ''} kept, all valid; foreign files untouched`,
    })
  })
})
