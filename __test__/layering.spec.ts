// The JS side's modules form no cycle (as src/contract/layering.rs checks the crate's): every
// relative require() in index.js, bin/ and lib/, eager or lazy, is an edge.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from './helpers.js'

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? jsFiles(p) : p.endsWith('.js') ? [p] : []
  })
}

/** File → the files of the package it requires by a relative path. */
function graph(files: string[], read: (f: string) => string): Map<string, Set<string>> {
  const g = new Map<string, Set<string>>()
  for (const f of files) {
    const deps = new Set<string>()
    for (const m of read(f).matchAll(/require\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
      const target = resolve(dirname(f), m[1])
      const hit = [target, `${target}.js`, join(target, 'index.js')].find((c) => files.includes(c))
      if (hit) deps.add(relative(root, hit))
    }
    g.set(relative(root, f), deps)
  }
  return g
}

/** Every cycle through each module, as `a -> b -> a`. */
function cycles(g: Map<string, Set<string>>): string[] {
  const out: string[] = []
  for (const start of g.keys()) {
    const stack: [string, string[]][] = [[start, [start]]]
    const seen = new Set<string>()
    while (stack.length) {
      const [m, path] = stack.pop()!
      for (const n of g.get(m) ?? []) {
        if (n === start) out.push([...path, start].join(' -> '))
        else if (!seen.has(n)) {
          seen.add(n)
          stack.push([n, [...path, n]])
        }
      }
    }
  }
  return out
}

describe('module layering (JS)', () => {
  it('finds a cycle where there is one, lazy requires included', () => {
    const files = ['/p/a.js', '/p/b.js', '/p/c.js']
    const text: Record<string, string> = {
      '/p/a.js': "const b = require('./b')",
      '/p/b.js': "function later() { return require('./c.js') }",
      '/p/c.js': "require('./a.js')",
    }
    expect(cycles(graph(files, (f) => text[f]))).toHaveLength(3)
  })

  it('index.js, bin/ and lib/ (every file, at any depth) have no cycle', () => {
    const files = [join(root, 'index.js'), ...jsFiles(join(root, 'bin')), ...jsFiles(join(root, 'lib'))]
    const g = graph(files, (f) => readFileSync(f, 'utf8'))
    expect(g.get('bin/memory-diagnostics-dumper.js')).toEqual(new Set(['lib/cli/main.js']))
    expect(g.get('lib/cli/inspect/read.js')?.has('lib/cli/zip/read.js')).toBe(true)
    expect(cycles(g)).toEqual([])
  })

  it("lib/ depends one way: index.js → dumper/, fallback/, rules/places.js (a load failure's reason); bin/ → cli/; each of them → rules/ alone", () => {
    const files = [join(root, 'index.js'), ...jsFiles(join(root, 'bin')), ...jsFiles(join(root, 'lib'))]
    const g = graph(files, (f) => readFileSync(f, 'utf8'))
    // What each part may require besides its own files.
    const allowed: [RegExp, RegExp][] = [
      [/^lib\/rules\//, /^lib\/rules\//],
      [/^lib\/dumper\//, /^lib\/(dumper|rules)\//],
      [/^lib\/fallback\//, /^lib\/(fallback|rules)\//],
      [/^lib\/cli\//, /^lib\/(cli|rules)\//],
      [/^bin\//, /^lib\/cli\/main\.js$/],
      [/^index\.js$/, /^lib\/(dumper\/|fallback\/|cli\/bundle\/bundle\.js|cli\/inspect\/previous-run\.js|rules\/places\.js)/],
    ]
    const wrong: string[] = []
    for (const [from, deps] of g) {
      const rule = allowed.find(([part]) => part.test(from))
      expect(rule, `${from} belongs to no part of the layout`).toBeDefined()
      for (const d of deps) if (!rule![1].test(d)) wrong.push(`${from} -> ${d}`)
    }
    expect(wrong).toEqual([])
    // The fast path is not loaded by require() (see loader.spec.ts): the public class
    // reaches it lazily, and index.js not at all.
    expect(g.get('index.js')?.has('lib/dumper/fast-path.js')).toBe(false)
  })
})

describe('docs/architecture.md walks the tree as it is', () => {
  it('names only files and folders that exist, and every folder of src/ and lib/', () => {
    const text = readFileSync(join(root, 'docs', 'architecture.md'), 'utf8')
    const named = [...text.matchAll(/`((?:src|lib|bin)\/[A-Za-z0-9_./-]*|index\.js)`/g)].map((m) => m[1])
    expect(named.length).toBeGreaterThan(30)
    const missing = named.filter((p) => {
      try {
        statSync(join(root, p))
        return false
      } catch {
        return true
      }
    })
    expect(missing).toEqual([])
    const folders = ['src', 'lib'].flatMap((top) =>
      readdirSync(join(root, top))
        .filter((f) => statSync(join(root, top, f)).isDirectory())
        .map((f) => `${top}/${f}/`),
    )
    const unnamed = folders.filter((f) => !named.some((p) => p.startsWith(f)) && f !== 'src/contract/')
    expect(unnamed).toEqual([])
  })
})

describe('the paths the sources and docs name', () => {
  it('every src/ and lib/ path named in a comment, a doc or the README exists', () => {
    const walk = (d: string): string[] =>
      readdirSync(join(root, d)).flatMap((f) => {
        const p = join(d, f)
        return statSync(join(root, p)).isDirectory() ? walk(p) : /\.(rs|js|mjs|ts|md)$/.test(f) ? [p] : []
      })
    const files = ['src', 'lib', 'bench', 'scripts', 'bin', 'demo', 'examples', 'docs'].flatMap(walk)
    files.push('index.js', 'README.md')
    const named: string[] = []
    for (const f of files) {
      const text = readFileSync(join(root, f), 'utf8')
      for (const m of text.matchAll(/(?<![\w/.~@-])((?:src|lib)\/[A-Za-z0-9_./-]*?(?:\.rs|\.js|\.mjs|\.json|\/))(?![\w.])/g)) named.push(`${f}: ${m[1]}`)
    }
    expect(named.length).toBeGreaterThan(200)
    const missing = named.filter((n) => {
      try {
        statSync(join(root, n.slice(n.indexOf(': ') + 2)))
        return false
      } catch {
        return true
      }
    })
    expect(missing).toEqual([])
  })
})
