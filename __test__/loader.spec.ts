// The loader as users get it: index.js + native.js + lib/ in a directory, with and
// without this platform's binary. Runs on every platform the suite runs on (Linux, and
// Windows and arm64 Linux in scripts/test-platforms.mjs).
import { spawnSync } from 'node:child_process'
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root, scratch } from './helpers.js'

const probe = `
const m = require('./index.js')
// What require() of the package loaded (before any dumper is made).
const loaded = Object.keys(require.cache).map((k) => require('node:path').relative(__dirname, k).split(require('node:path').sep).join('/'))
const v8 = require('node:v8')
const d = new m.MemoryDiagnosticsDumper({ directory: require('node:path').join(__dirname, 'diag'), cooldownMs: 0 })
d.dump('manual', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() }).then((r) => {
  const doc = JSON.parse(require('node:fs').readFileSync(r.filePath, 'utf8'))
  require('node:fs').writeFileSync(require('node:path').join(__dirname, 'out.json'), JSON.stringify({
    implementation: m.implementation, fallbackReason: m.fallbackReason, complete: r.complete,
    docImplementation: doc.runtime.implementation, docReason: doc.runtime.fallbackReason ?? null, loaded,
  }))
})`

/** Installs the package's JS files (and optionally binaries) into a fresh directory and runs the probe there. */
function installAndRun(binaries: string[], opts: { preload?: string; asPackage?: boolean } = {}) {
  const dir = scratch('mdd-loader')
  // Every top-level file package.json ships (index.js requires its siblings) and package.json.
  const { files } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] }
  for (const f of ['package.json', ...files.filter((f) => !f.includes('/'))]) copyFileSync(join(root, f), join(dir, f))
  // The JS side the entry requires (lib/).
  cpSync(join(root, 'lib'), join(dir, 'lib'), { recursive: true })
  for (const b of binaries) {
    if (!opts.asPackage) copyFileSync(join(root, b), join(dir, b))
    else {
      // As npm installs it: the platform's own package, e.g. memory-diagnostics-dumper-linux-x64-gnu.
      const pkg = join(dir, 'node_modules', `memory-diagnostics-dumper-${b.split('.')[1]}`)
      mkdirSync(pkg, { recursive: true })
      copyFileSync(join(root, b), join(pkg, b))
      writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: `memory-diagnostics-dumper-${b.split('.')[1]}`, version: '0.1.0', main: b }))
    }
  }
  writeFileSync(join(dir, 'probe.cjs'), probe)
  const args = opts.preload ? ['--require', opts.preload, 'probe.cjs'] : ['probe.cjs']
  // Output goes through a file: a Windows Node under Wine cannot write to a pipe.
  const r = spawnSync(process.execPath, args, { cwd: dir, encoding: 'utf8', env: { ...process.env, MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS: '' } })
  expect(r.status, r.stderr).toBe(0)
  return { dir, out: JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) }
}

const hostBinaries = readdirSync(root).filter((f) => f.startsWith(`memory-diagnostics-dumper.${process.platform}-${process.arch}`) && f.endsWith('.node'))

describe('loader', () => {
  it("loads this platform's binary when it is installed", () => {
    expect(hostBinaries.length, `no memory-diagnostics-dumper.${process.platform}-${process.arch}*.node in ${root}`).toBeGreaterThan(0)
    const { out } = installAndRun(hostBinaries)
    expect(out).toMatchObject({ implementation: 'native', fallbackReason: null, complete: true, docImplementation: 'native', docReason: null })
    // By its own name, without the generated loader; what only a dumper needs is loaded
    // when one is made, not by require() (every host pays require() at start).
    const binary = hostBinaries.find((b) => out.loaded.includes(b))
    expect(binary, out.loaded.join()).toBeDefined()
    for (const later of ['native.js', 'lib/contract.json', 'lib/dumper/figures.js', 'lib/dumper/fast-path.js', 'lib/dumper/heap-snapshot.js'])
      expect(out.loaded).not.toContain(later)
  })

  it("loads this platform's binary from its npm package, without the generated loader", () => {
    const { out } = installAndRun(hostBinaries, { asPackage: true })
    expect(out).toMatchObject({ implementation: 'native', fallbackReason: null, complete: true })
    expect(
      out.loaded.some((f: string) => f.startsWith('node_modules/memory-diagnostics-dumper-') && f.endsWith('.node')),
      out.loaded.join(),
    ).toBe(true)
    expect(out.loaded).not.toContain('native.js')
  })

  it('falls back to JS without the binary, naming the file and the package it looked for', () => {
    const { out } = installAndRun([])
    expect(out).toMatchObject({ implementation: 'js', complete: true, docImplementation: 'js' })
    expect(out.fallbackReason).toBe(out.docReason)
    expect(out.fallbackReason).toMatch(
      /^the native binding did not load: Cannot find module '\.\/memory-diagnostics-dumper\.[a-z0-9]+-[a-z0-9]+(-[a-z]+)?\.node'; Cannot find module 'memory-diagnostics-dumper-[a-z0-9-]+'$/,
    )
    expect(out.fallbackReason).toContain(`${process.platform}-${process.arch}`)
    expect(out.fallbackReason).not.toMatch(/wasi|npm i/)
  })

  const glibcBinaries = hostBinaries.filter((f) => f.endsWith('-gnu.node'))
  it.runIf(process.platform === 'linux' && glibcBinaries.length > 0)(
    'on a musl system looks for the musl binary, and a glibc binary is not taken in its place',
    () => {
      const dir = scratch('mdd-musl-preload')
      const preload = join(dir, 'musl.cjs')
      // What the loader reads first to tell musl from glibc: /usr/bin/ldd, a script that names its libc.
      writeFileSync(
        preload,
        `const fs = require('node:fs'); const read = fs.readFileSync
fs.readFileSync = function (p, ...rest) { return p === '/usr/bin/ldd' ? 'musl libc (${process.arch})\\n' : read.call(this, p, ...rest) }`,
      )
      const { out } = installAndRun(glibcBinaries, { preload })
      expect(out.implementation).toBe('js')
      expect(out.fallbackReason).toBe(
        `the native binding did not load: Cannot find module './memory-diagnostics-dumper.linux-${process.arch}-musl.node'; Cannot find module 'memory-diagnostics-dumper-linux-${process.arch}-musl'`,
      )
    },
  )
})
