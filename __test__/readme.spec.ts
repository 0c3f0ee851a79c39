// The TypeScript blocks of the README and of docs/usage.md are the first code a new user
// copies: each one is type-checked (strict) against the published typings and run as
// written, so neither can drift from the API. The README's first screen holds what the
// package is, the quick start, install and use.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it, vi } from 'vitest'
import { dumpFiles, readDump, root, scratch } from './helpers.js'
import { toModule } from './ts-run.js'

const readme = readFileSync(join(root, 'README.md'), 'utf8')
const usage = readFileSync(join(root, 'docs', 'usage.md'), 'utf8')
const blocksOf = (text: string) => [...text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1])
const blocks = [...blocksOf(readme), ...blocksOf(usage)]
// Inside the repository so that `vitest` and @types/node resolve; ignored by git.
const dir = join(root, '.readme-blocks')
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
blocks.forEach((code, i) => {
  writeFileSync(join(dir, `block-${i}.mts`), code)
  writeFileSync(join(dir, `block-${i}.mjs`), toModule(code))
})
writeFileSync(
  join(dir, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      paths: { 'memory-diagnostics-dumper': ['../index.d.mts'] },
    },
    include: ['*.mts'],
  }),
)

describe('README and docs/usage.md code blocks', () => {
  it('has the blocks a user copies: the import, Use, results, fake timers, the recorder', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(5)
    expect(blocksOf(readme)[0]).toContain("void dumper.dump('critical')")
    expect(blocks.some((b) => b.includes("void dumper.dump('hard')"))).toBe(true)
  })

  it("the README's first screen (60 lines) says what it is and holds the quick start, install and use", () => {
    const screen = readme.split('\n').slice(0, 60).join('\n')
    for (const h of ['## Quick start', '## Install', '## Use']) expect(screen).toContain(h)
    expect(screen).toContain('npm ci && npm run demo')
    expect(screen).toContain('npm ci && npm test')
    expect(screen).toContain('npm install memory-diagnostics-dumper')
    expect(screen).toContain("void dumper.dump('critical')")
    // Its figures come from one bench run, dated, and are the ones docs/benchmarks.md holds.
    const bench = readFileSync(join(root, 'docs', 'benchmarks.md'), 'utf8')
    expect(readme).toMatch(/A quiet `npm run bench` \(\d{4}-\d\d-\d\d;/)
    for (const f of readme.match(/\| (\d+(?:\.\d+)? (?:µs|ms))/g) ?? []) expect(bench).toContain(f.slice(2))
  })

  it('type-check under strict', () => {
    const r = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8' })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  }, 120_000)

  blocks.forEach((code, i) => {
    const title = code.split('\n').find((l) => l.includes('MemoryDiagnosticsDumper(') || l.includes('console.log')) ?? code.split('\n')[0]
    if (code.includes("from 'vitest'")) {
      // A block for host tests runs inside this test runner, as it would in the host's.
      it(`block ${i} runs as written, in a vitest test (${title.trim()})`, async () => {
        const log = vi.spyOn(console, 'log').mockImplementation(() => {})
        try {
          await import(pathToFileURL(join(dir, `block-${i}.mjs`)).href)
          // What the block's comments promise.
          expect(log.mock.calls).toEqual([['cooldown'], [true]])
        } finally {
          log.mockRestore()
          vi.useRealTimers()
        }
      })
      return
    }
    it(`block ${i} runs as written in a fresh Node process (${title.trim()})`, () => {
      const cwd = scratch('readme')
      const r = spawnSync(process.execPath, [join(dir, `block-${i}.mjs`)], { cwd, encoding: 'utf8', timeout: 60_000 })
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
      if (code.includes('.then((result)')) expect(r.stdout).toMatch(/^dump 1 at \/.*\/diagnostics\/memory-nosessn-.*-1\.json complete\n$/)
      if (code.includes('new MemoryDiagnosticsDumper(') && code.includes('dump(')) {
        const files = dumpFiles(join(cwd, 'diagnostics'))
        expect(files.length).toBe(1)
        readDump(files[0])
      }
    })
  })
})

describe('README and docs/usage.md links', () => {
  it('every relative link resolves inside the package as npm publishes it', () => {
    const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '--loglevel=error'], { cwd: root, encoding: 'utf8', timeout: 120_000 })
    expect(r.status, r.stderr).toBe(0)
    const shipped = new Set(JSON.parse(r.stdout)[0].files.map((f: { path: string }) => f.path))
    const linksOf = (text: string, base: string) =>
      [...text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)]
        .map((m) => m[1])
        .filter((l) => !/^[a-z]+:/.test(l))
        .map((l) => join(base, l).replace(/\\/g, '/'))
    const links = [...linksOf(readme, '.'), ...linksOf(usage, 'docs')]
    expect(links.length).toBeGreaterThan(20)
    expect(links.filter((l) => !shipped.has(l))).toEqual([])
  })
})
