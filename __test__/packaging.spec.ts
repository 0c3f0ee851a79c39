import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from './helpers.js'

const bin = (name: string) => join(root, 'node_modules', '.bin', name)

describe('packaging (as published to npm)', () => {
  it('installs from the packed tarballs without a Rust toolchain and dumps from CJS, ESM and an esbuild bundle; falls back to JS without the platform package', () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts/pack-test.mjs')], { cwd: root, encoding: 'utf8', timeout: 300_000 })
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(out.ok).toBe(true)
    expect(out.native.cjs).toMatchObject({ implementation: 'native', docImplementation: 'native', complete: true })
    expect(out.native.esm).toMatchObject({ implementation: 'native', docImplementation: 'native', complete: true })
    expect(out.esbuild.esm).toEqual({ implementation: 'native', complete: true })
    expect(out.esbuild.cjs).toEqual({ implementation: 'native', complete: true })
    expect(out.inspectProcesses).toBe(1)
    expect(out.fallback.cjs).toMatchObject({ implementation: 'js', docImplementation: 'js', complete: true })
    expect(out.fallback.esm.fallbackReason).toMatch(/^the native binding did not load: /)
    expect(out.rootFiles.filter((f: string) => f.endsWith('.node'))).toEqual([])
    expect(out.platformFiles).toContain(`memory-diagnostics-dumper.linux-${process.arch}-gnu.node`)
  })

  it('passes publint', () => {
    const r = spawnSync(bin('publint'), ['--strict'], { cwd: root, encoding: 'utf8', timeout: 120_000 })
    expect(r.stdout + r.stderr).toMatch(/All good!/)
    expect(r.status).toBe(0)
  })

  it('has types that resolve for CJS, ESM and bundlers (arethetypeswrong)', () => {
    const r = spawnSync(bin('attw'), ['--pack', '.', '--profile', 'node16', '--format', 'json'], { cwd: root, encoding: 'utf8', timeout: 120_000 })
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const report = JSON.parse(r.stdout)
    expect(report.analysis.problems).toEqual([])
    expect(report.problems).toEqual({})
    expect(Object.keys(report.analysis.entrypoints)).toContain('.')
  })
})
