// The platform-independent promises, run on every OS by the release workflow (the rest
// of the suite asserts on Linux procfs, cgroups and strace).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { implementations, input, readDump, scratch, written } from './helpers.js'

describe.each(implementations)('on this platform ($name)', ({ name, MemoryDiagnosticsDumper }) => {
  it('writes phase 1 before dump() returns, then the complete document; caps and validates', async () => {
    const dir = join(scratch(), 'diag')
    const d = new MemoryDiagnosticsDumper({ directory: dir, maxDumpsPerSession: 2, cooldownMs: 0 })
    const p = d.dump('hard', input({ session: { n: 1 } }))
    const files = readdirSync(dir).filter((f) => f.startsWith('memory-'))
    expect(files).toHaveLength(1)
    // Read synchronously: no await has happened. Phase 2 runs on the addon's own thread and
    // may already have replaced the file (it did under Wine), so either document is valid here.
    expect(readDump(join(dir, files[0]))).toMatchObject({ trigger: 'hard', dumpNumber: 1 })
    const r = await p
    expect(r).toMatchObject({ complete: true, written: true, dumpNumber: 1 })
    const doc = readDump(written(r))
    expect(doc.runtime).toMatchObject({ platform: process.platform, arch: process.arch, implementation: name })
    expect(doc.system.totalMemory).toBeGreaterThan(0)
    expect(doc.analysis.recommendation.length).toBeGreaterThan(0)
    expect(await d.dump('critical')).toMatchObject({ written: true, dumpNumber: 2 })
    expect(await d.dump('critical', input())).toMatchObject({ written: false, skipped: 'cap', retryAfterMs: null })
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    expect(await d.dump('soft' as any, input())).toMatchObject({ written: false, error: `trigger: expected 'hard', 'critical' or 'manual', got "soft"` })
    expect(warn).toHaveBeenCalledTimes(1)
    warn.mockRestore()
    expect(existsSync(join(dir, files[0]))).toBe(true)
  })

  // The file rules that differ most between systems (Windows: MAX_PATH, MoveFileEx
  // replacing an existing file, mkdir of a directory that exists).
  it('uses a directory that already exists, replaces phase 1 in place, and leaves no temporary file', async () => {
    const dir = join(scratch(), 'existing')
    mkdirSync(dir, { mode: 0o700 })
    writeFileSync(join(dir, 'notes.txt'), 'mine')
    for (const sessionId of ['first', 'second']) {
      const r = await new MemoryDiagnosticsDumper({ directory: dir, sessionId, cooldownMs: 0 }).dump('hard', input())
      expect(r).toMatchObject({ complete: true, written: true })
      expect(readDump(written(r)).collectionComplete).toBe(true)
    }
    const names = readdirSync(dir).sort()
    expect(names).toHaveLength(3)
    expect(names.filter((f) => f.startsWith('memory-'))).toHaveLength(2)
    expect(names.filter((f) => f.endsWith('.tmp'))).toEqual([])
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('mine')
  })

  it('writes under a path longer than 260 characters (Windows MAX_PATH)', async () => {
    let dir = scratch()
    while (dir.length < 300) dir = join(dir, 'a-directory-name-of-forty-characters-xx')
    const r = await new MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0 }).dump('critical', input())
    expect(r).toMatchObject({ complete: true, written: true })
    expect(written(r).length).toBeGreaterThan(300)
    expect(readDump(written(r)).trigger).toBe('critical')
  })

  it('reports, without throwing, a file standing where the directory should be', async () => {
    const base = scratch()
    writeFileSync(join(base, 'file'), 'not a directory')
    const r = await new MemoryDiagnosticsDumper({ directory: join(base, 'file', 'diagnostics') }).dump('hard', input())
    expect(r).toMatchObject({ written: false, complete: false })
    expect(r!.error).toContain(join(base, 'file', 'diagnostics'))
    expect(readFileSync(join(base, 'file'), 'utf8')).toBe('not a directory')
  })
})
