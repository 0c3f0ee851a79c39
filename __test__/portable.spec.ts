// The platform-independent promises, run on every OS by the release workflow (the rest
// of the suite asserts on Linux procfs, cgroups and strace).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { implementations, input, readDump, scratch } from './helpers.js'

describe.each(implementations)('on this platform ($name)', ({ name, MemoryDiagnosticsDumper }) => {
  it('writes phase 1 before dump() returns, then the complete document; caps and validates', async () => {
    const dir = join(scratch(), 'diag')
    const d = new MemoryDiagnosticsDumper({ directory: dir, maxDumpsPerSession: 2, cooldownMs: 0 })
    const p = d.dump('hard', input({ session: { n: 1 } }))
    const files = readdirSync(dir).filter((f) => f.startsWith('memory-'))
    expect(files).toHaveLength(1)
    expect(JSON.parse(readFileSync(join(dir, files[0]), 'utf8')).collectionComplete).toBe(false)
    const r = await p
    expect(r).toMatchObject({ complete: true, written: true, dumpNumber: 1 })
    const doc = readDump(r!.filePath)
    expect(doc.runtime).toMatchObject({ platform: process.platform, arch: process.arch, implementation: name })
    expect(doc.system.totalMemory).toBeGreaterThan(0)
    expect(doc.analysis.recommendation.length).toBeGreaterThan(0)
    expect(await d.dump('critical', input())).not.toBeNull()
    expect(await d.dump('critical', input())).toBeNull()
    expect(() => d.dump('soft' as any, input())).toThrow(/^trigger: expected 'hard', 'critical' or 'manual', got "soft"$/)
    expect(existsSync(join(dir, files[0]))).toBe(true)
  })
})
