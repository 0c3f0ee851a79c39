// Safe to attach to a public bug report (issue 33). A host in a home directory whose name
// has a space and a non-ASCII letter (so its file URLs percent-encode it) names its code by
// URLs that carry secrets: a query and a fragment, credentials and a signature in a
// sourceURL, a data: module's source. Every secret is a canary; none may be in any byte of
// the directory, of inspect's text, JSON and HTML, or of the unpacked bundle, while the
// frames that name that code are still there, by the place rule (docs/bundle.md).
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { dumpFiles, implementations, readDump, root, scratch } from './helpers.js'

const require = createRequire(import.meta.url)
const { unzipSync } = require('fflate') as typeof import('fflate')
const cli = join(root, 'bin', 'memory-diagnostics-dumper.js')
const hostFiles = join(root, '__test__', 'children', 'secrets-host')

/** Everything that may never appear: the canaries, the home directory in every spelling, the data: module's source. */
function forbidden(home: string): (string | RegExp)[] {
  return [/CANARY/, home, encodeURI(home), encodeURIComponent(home), 'Jöhn', 'J%C3%B6hn', 'J%c3%b6hn', 'API_KEY', 'export function', 'void(']
}

function expectClean(what: string, text: string, home: string) {
  for (const f of forbidden(home)) {
    if (typeof f === 'string') expect(text.includes(f), `${what} holds ${f}`).toBe(false)
    else expect(f.test(text), `${what} matches ${f}`).toBe(false)
  }
}

function plantHome(tag: string): string {
  const home = join(scratch(tag), 'home', 'Jöhn Doe')
  mkdirSync(join(home, 'app'), { recursive: true })
  for (const f of readdirSync(hostFiles)) copyFileSync(join(hostFiles, f), join(home, 'app', f))
  return home
}

const cliRun = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env, timeout: 120_000, maxBuffer: 64 << 20 })

/** inspect's text, JSON and HTML for `dir`, as run by someone else (this test's own home). */
function inspectOutputs(dir: string): string[] {
  const html = join(scratch('public-html'), 'timeline.html')
  const outs = []
  for (const flags of [[], ['--json'], ['--html', html]]) {
    const r = cliRun(['inspect', ...flags, dir])
    // 1: a file did not match the schema (the hand-made older dumps); the rest was read.
    expect([0, 1], r.stderr).toContain(r.status)
    outs.push(r.stdout + r.stderr)
  }
  outs.push(readFileSync(html, 'utf8'))
  return outs
}

/** The directory's bytes, inspect's three outputs and the unpacked bundle, each checked. */
function expectNothingLeaves(dir: string, home: string) {
  for (const f of readdirSync(dir)) expectClean(f, readFileSync(join(dir, f), 'utf8'), home)
  // inspect and bundle as run by someone else (this test's own home): only what the rule let through.
  for (const text of inspectOutputs(dir)) expectClean('inspect', text, home)
  const out = join(scratch('public-out'), 'report.zip')
  const b = cliRun(['bundle', dir, '-o', out])
  expect(b.status, b.stderr).toBe(0)
  expectClean('bundle output', b.stdout + b.stderr, home)
  const raw = readFileSync(out)
  const entries = unzipSync(raw)
  expect(Object.keys(entries).length).toBeGreaterThan(3)
  for (const [name, bytes] of Object.entries(entries)) expectClean(`bundle ${name}`, name + Buffer.from(bytes).toString('utf8'), home)
  return JSON.parse(Buffer.from(entries['manifest.json']).toString('utf8'))
}

/** Every frame a document holds: allocation sites and their paths, the watchdog's stack. */
function framesOf(doc: any): { function: string; script: string }[] {
  const sites = doc.allocationProfile?.sites ?? []
  return [...sites.flatMap((s: any) => [s, ...(s.path ?? [])]), ...(doc.watchdog?.stack?.frames ?? [])]
}

for (const impl of implementations) {
  describe(`a public bug report (${impl.name})`, () => {
    it('keeps no query, fragment, credentials, data: source or home directory from script URLs, in any output', () => {
      const home = plantHome(`public-${impl.name}`)
      const dir = join(scratch('public-dir'), 'diag')
      const r = spawnSync(process.execPath, [join(home, 'app', 'host.mjs'), dir, join(root, 'index.js')], {
        cwd: root,
        encoding: 'utf8',
        env: { ...process.env, ...impl.env, HOME: home },
        timeout: 60_000,
      })
      // The host dies of the error it throws, as Node reports it (the secret is in Node's own
      // report on stderr: the package never changes that, and never writes it).
      expect(r.status, r.stderr).toBe(1)
      expect(r.stdout.trim()).toBe('7')
      expect(r.stderr).toContain('CANARYKEYQUERY')

      const docs = dumpFiles(dir).map(readDump)
      const scripts = docs.flatMap(framesOf).map((f) => f.script)
      // The code is still named: the host's own scripts under ~, the data: module by its type and size.
      expect(scripts).toContain('~/app/host.mjs')
      expect(scripts.some((s) => /^data:text\/javascript \[\d+ bytes\]$/.test(s))).toBe(true)
      // The vm scripts' names, each through the rule: the query of a plain path, credentials
      // without a scheme, a URL after a newline, a javascript: URL.
      for (const kept of ['/opt/app/plain.js', 'host.example/app.js', 'evil.js\n    at f (https://h.example/x.js', 'javascript: [16 bytes]'])
        expect(scripts).toContain(kept)
      if (impl.name === 'native') {
        const stall = docs.find((d) => d.trigger === 'watchdog')
        expect(stall.watchdog.stack.status).toBe('captured')
        const frames = stall.watchdog.stack.frames.map((f: any) => [f.function, f.script])
        expect(frames).toContainEqual(['spin', '~/app/mod.mjs'])
        expect(frames).toContainEqual(['holdPlain', '/opt/app/plain.js'])
        const trail = readdirSync(dir).find((f) => f.startsWith('recorder-'))!
        const last = JSON.parse(readFileSync(join(dir, trail), 'utf8').trim().split('\n').at(-1)!)
        expect(last).toMatchObject({
          how: 'uncaughtException',
          errorClass: 'TypeError',
          thrownAt: { function: 'https://api.example/v1', script: '~/app/host.mjs' },
        })
      }
      const manifest = expectNothingLeaves(dir, home)
      expect(manifest.selection.processes[0].outcome).toBe(impl.name === 'native' ? 'crashed' : 'unknown')
    })
  })
}

describe('bundle and inspect on dumps written before the place rule', () => {
  it('apply the rule again to everything: frames, strings that hold URLs, the encoded home; the manifest counts it', () => {
    const home = plantHome('public-old')
    const dir = join(scratch('public-old-dir'), 'diag')
    // A real dump to start from, then frames and strings as an older version wrote them.
    const r = spawnSync(process.execPath, [join(root, '__test__/children/dump-once.mjs'), dir], { encoding: 'utf8', timeout: 30_000 })
    expect(r.status, r.stderr).toBe(0)
    const file = dumpFiles(dir)[0]
    const doc = readDump(file)
    const enc = `file://${encodeURI(home)}`
    const frame = (script: string, fn = 'render') => ({ function: fn, script, line: 3, column: 4 })
    doc.allocationProfile = {
      status: 'taken',
      samplingIntervalBytes: 1024,
      totalSampledBytes: 64 << 20,
      sites: [
        {
          ...frame(`${enc}/app/mod.mjs?token=CANARYQUERY#CANARYFRAGMENT`),
          liveBytes: 48 << 20,
          share: 0.75,
          path: [frame('https://user:CANARYPASSWORD@cdn.example/app.js?sig=CANARYSIG', 'caller')],
        },
        { ...frame('data:text/javascript,const API_KEY="CANARYDATA"'), liveBytes: 16 << 20, share: 0.25, path: [frame(`${home}/app/host.mjs`)] },
      ],
    }
    doc.inputWarnings = [`see https://user:CANARYPASS2@example.org/x?CANARYQ2 and ${enc}/app/notes.txt`]
    writeFileSync(file, JSON.stringify(doc, null, 2))
    chmodSync(file, 0o600)
    const out = join(scratch('public-old-out'), 'report.zip')
    const b = cliRun(['bundle', dir, '-o', out], { ...process.env, HOME: home })
    expect(b.status, b.stderr).toBe(0)
    const entries = unzipSync(readFileSync(out))
    for (const [name, bytes] of Object.entries(entries)) expectClean(`bundle ${name}`, Buffer.from(bytes).toString('utf8'), home)
    const bundled = JSON.parse(Buffer.from(entries[Object.keys(entries).find((n) => n.startsWith('memory-'))!]).toString('utf8'))
    expect(bundled.allocationProfile.sites.map((s: any) => s.script)).toEqual(['~/app/mod.mjs', 'data:text/javascript [26 bytes]'])
    expect(bundled.allocationProfile.sites[0].path[0].script).toBe('https://cdn.example/app.js')
    expect(bundled.inputWarnings[0]).toBe('see https://example.org/x and ~/app/notes.txt')
    const manifest = JSON.parse(Buffer.from(entries['manifest.json']).toString('utf8'))
    const applied = Object.fromEntries(manifest.redaction.applied.map((a: any) => [a.what, a.replaced]))
    expect(applied['script names and URLs']).toBeGreaterThanOrEqual(4)
    expect(applied['home directory']).toBeGreaterThanOrEqual(2)
    // inspect, run by someone whose home is not the planted one, prints none of it either.
    for (const text of inspectOutputs(dir)) for (const f of [/CANARY/, 'API_KEY']) expect(text.match(f)).toBeNull()
  })
})
