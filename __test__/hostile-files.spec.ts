// Readers that fail small: inspect and bundle handed a directory or a bundle made to hurt them
// (links to secrets, FIFOs, sockets, nesting thousands deep, zip bombs). Each file is named
// and skipped, the rest is read, and nothing takes more than a moment.
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root, scratch } from './helpers.js'

const { unzipSync } = createRequire(import.meta.url)('fflate') as typeof import('fflate')
const cli = join(root, 'bin', 'memory-diagnostics-dumper.js')
const fixture = join(root, 'tests/fixtures/inspect/v8-oom-no-cgroup-limit')
const dumpName = (tag: string) => `memory-${tag}-2026-11-26T18-53-01-000Z-1.json`
// A line of /etc/shadow, as a link named like a dump could lead to.
const SECRET = 'mddsecret:$6$salt$hash:20200:0:99999:7:::'

/** The command's result and how long it took (ms); a hang fails at the timeout, not forever. */
function run(...args: string[]) {
  const started = Date.now()
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000 })
  return { ...r, ms: Date.now() - started }
}

/** A directory holding a copy of a real crash (two dumps and a recorder trail). */
function crashDir(): string {
  const dir = join(scratch(), 'diag')
  mkdirSync(dir)
  for (const f of readdirSync(fixture)) copyFileSync(join(fixture, f), join(dir, f))
  return dir
}

/** The manifest's reasons for the files a bundle left out, by name. */
function leftOut(zip: string): Record<string, string> {
  const m = JSON.parse(Buffer.from(unzipSync(readFileSync(zip))['manifest.json']).toString())
  return Object.fromEntries(m.notIncluded.files.map((f: any) => [f.name, f.reason]))
}

describe.skipIf(process.platform === 'win32')('only regular files are read', () => {
  it('a FIFO named like a bundle is named and skipped at once, not waited on', () => {
    const fifo = join(scratch(), 'report.zip')
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
    const r = run('inspect', fifo)
    expect(r.error).toBeUndefined() // no hang
    expect(r.ms).toBeLessThan(10_000)
    expect(r.status).toBe(2)
    expect(r.stderr).toContain(`${fifo}: skipped: a FIFO, not a regular file`)
  })

  it('a link named like a dump is never followed: its target is never read nor echoed; a socket is named; the rest is read', async () => {
    const dir = crashDir()
    const outside = join(dir, '..', 'shadow')
    writeFileSync(outside, `${SECRET}\n`)
    symlinkSync(outside, join(dir, dumpName('linked')))
    symlinkSync(outside, join(dir, 'recorder-linked.jsonl'))
    const server = createServer()
    await new Promise<void>((resolve) => server.listen(join(dir, dumpName('socket')), resolve))
    try {
      const r = run('inspect', dir)
      expect(r.status, r.stderr).toBe(1)
      expect(r.stdout).toContain(`${dumpName('linked')}: skipped: a symbolic link (never followed)`)
      expect(r.stdout).toContain('recorder-linked.jsonl: skipped: a symbolic link (never followed)')
      expect(r.stdout).toContain(`${dumpName('socket')}: skipped: a socket, not a regular file`)
      expect(r.stdout).toMatch(/^Session demosess, process 2919/m)
      // Named on the command line, a link is not followed either.
      const direct = run('inspect', join(dir, dumpName('linked')))
      expect(direct.status).toBe(2)
      expect(direct.stderr).toContain('skipped: a symbolic link (never followed)')
      const out = join(scratch(), 'b.zip')
      const b = run('bundle', dir, '-o', out, '--all')
      expect(b.status, b.stderr).toBe(0)
      expect(leftOut(out)).toMatchObject({
        [dumpName('linked')]: expect.stringMatching(/symbolic link/),
        [dumpName('socket')]: expect.stringMatching(/socket/),
      })
      for (const o of [r.stdout, r.stderr, direct.stdout, direct.stderr, b.stdout, readFileSync(out, 'latin1')]) expect(o).not.toContain('mddsecret')
    } finally {
      server.close()
    }
  })
})

describe('JSON that fails small', () => {
  it('a file that is not JSON is named with the byte where it stops being JSON, never quoted', () => {
    const dir = crashDir()
    writeFileSync(join(dir, dumpName('shadow')), `${SECRET}\n`)
    const half = readFileSync(join(fixture, readdirSync(fixture).find((f) => f.endsWith('-1.json'))!), 'utf8').slice(0, 1000)
    writeFileSync(join(dir, dumpName('half')), half)
    const r = run('inspect', dir)
    expect(r.status, r.stderr).toBe(1)
    expect(r.stdout).toContain(`${dumpName('shadow')}: not complete JSON (truncated or corrupt): not valid JSON (at byte 0)`)
    expect(r.stdout).toContain(`${dumpName('half')}: not complete JSON (truncated or corrupt): it ends inside a value (at byte 1000)`)
    expect(r.stdout).toMatch(/^Session demosess, process 2919/m)
    const out = join(scratch(), 'b.zip')
    const b = run('bundle', dir, '-o', out, '--all')
    expect(b.status, b.stderr).toBe(0)
    expect(leftOut(out)[dumpName('shadow')]).toBe('skipped: not complete JSON (half-written or damaged): not valid JSON (at byte 0)')
    for (const o of [r.stdout, r.stderr, b.stdout, readFileSync(out, 'latin1')]) expect(o).not.toContain('mddsecret')
  })

  it('one file nested 2,000 deep is named and skipped; the rest is inspected and bundled', () => {
    const dir = crashDir()
    // 4 KB each: arrays, objects inside a dump's own fields, and one recorder line.
    writeFileSync(join(dir, dumpName('arrays')), `${'['.repeat(2000)}${']'.repeat(2000)}`)
    const head = '{"schemaVersion":1,"atTrigger":{},"session":'
    writeFileSync(join(dir, dumpName('objects')), `${head}${'{"a":'.repeat(2000)}1${'}'.repeat(2001)}`)
    // The 65th `{`: the document's own and 63 of `session`'s are within the limit.
    const deepAt = head.length + 63 * '{"a":'.length
    const trail = join(dir, 'recorder-demosess.jsonl')
    writeFileSync(trail, `${readFileSync(trail, 'utf8')}${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}\n`)
    const r = run('inspect', dir)
    expect(r.status, r.stderr).toBe(1)
    expect(r.stdout).toContain(`${dumpName('arrays')}: skipped: nested deeper than 64 levels (at byte 64)`)
    expect(r.stdout).toContain(`${dumpName('objects')}: skipped: nested deeper than 64 levels (at byte ${deepAt})`)
    expect(r.stdout).toMatch(/recorder-demosess\.jsonl: 1 line\(s\) are not JSON records/)
    expect(r.stdout).toMatch(/^Session demosess, process 2919/m)
    expect(r.stdout).toMatch(/^ {2}Verdict: crashed/m)
    expect(JSON.parse(run('inspect', dir, '--json').stdout).limits.jsonDepth).toBe(64)
    const out = join(scratch(), 'b.zip')
    const b = run('bundle', dir, '-o', out, '--all')
    expect(b.status, b.stderr).toBe(0)
    const entries = Object.keys(unzipSync(readFileSync(out)))
    expect(entries).toEqual(expect.arrayContaining(readdirSync(fixture)))
    expect(entries.filter((n) => n.startsWith('memory-'))).toHaveLength(2)
    expect(leftOut(out)).toMatchObject({
      [dumpName('arrays')]: 'skipped: nested deeper than 64 levels (at byte 64)',
      [dumpName('objects')]: `skipped: nested deeper than 64 levels (at byte ${deepAt})`,
    })
  })
})
