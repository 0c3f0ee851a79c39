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
