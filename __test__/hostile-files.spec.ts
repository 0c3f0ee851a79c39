// Readers that fail small: inspect and bundle handed a directory or a bundle made to hurt them
// (links to secrets, FIFOs, sockets, nesting thousands deep, zip bombs). Each file is named
// and skipped, the rest is read, and nothing takes more than a moment.
import { spawnSync } from 'node:child_process'
import { closeSync, copyFileSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, symlinkSync, writeFileSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { crc32, deflateRawSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { isRoot, root, scratch } from './helpers.js'

const { unzipSync } = createRequire(import.meta.url)('fflate') as typeof import('fflate')
const cli = join(root, 'bin', 'memory-diagnostics-dumper.js')
const fixture = join(root, 'tests/fixtures/inspect/v8-oom-no-cgroup-limit')
const dumpName = (tag: string) => `memory-${tag}-2026-11-26T18-53-01-000Z-1.json`
const MIB = 2 ** 20
// A line of /etc/shadow, as a link named like a dump could lead to.
const SECRET = 'mddsecret:$6$salt$hash:20200:0:99999:7:::'

/** The command's result and how long it took (ms); a hang fails at the timeout, not forever. */
function run(...args: string[]) {
  const started = Date.now()
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * MIB })
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
    expect(r.stderr).toContain('report.zip: skipped: a FIFO, not a regular file')
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

describe('what one run reads', () => {
  it('is at most 512 MiB in all: ten hard links to one 60 MiB trail are not read ten times', () => {
    const dir = crashDir()
    // One line longer than a record may be: read, never parsed, so only the reading costs.
    const big = join(dir, '..', 'big')
    const fd = openSync(big, 'w')
    const chunk = Buffer.alloc(4 * MIB, 0x78)
    for (let i = 0; i < 15; i++) writeSync(fd, chunk)
    closeSync(fd)
    for (let i = 0; i < 10; i++) linkSync(big, join(dir, `recorder-big${i}.jsonl`))
    const r = run('inspect', dir)
    expect(r.status, r.stderr).toBe(1)
    const skipped = (out: string) => [...out.matchAll(/(recorder-big\d)\.jsonl: skipped: it would pass the 512 MiB/g)].map((m) => m[1])
    // 8 × 60 MiB and the dumps fit; the last two links do not; the small trail after them does.
    expect(skipped(r.stdout)).toEqual(['recorder-big8', 'recorder-big9'])
    expect(r.stdout).toMatch(/^ {2}Recorder: \d+ samples in recorder-demosess\.jsonl/m)
    const out = join(scratch(), 'b.zip')
    const b = run('bundle', dir, '-o', out, '--all')
    expect(b.status, b.stderr).toBe(0)
    const reasons = leftOut(out)
    expect(Object.keys(reasons).filter((n) => /would pass the 512 MiB read in one run/.test(reasons[n]))).toEqual([
      'recorder-big8.jsonl',
      'recorder-big9.jsonl',
    ])
  })
})

describe('heap snapshots a bundle reads', () => {
  it('one linked by both dumps of a process is read and packed once', () => {
    const dir = crashDir()
    const heap = 'heap-demosess-2026-11-26T18-53-00-485Z-1.heapsnapshot'
    writeFileSync(join(dir, heap), JSON.stringify({ snapshot: { meta: {}, node_count: 0 }, nodes: [], strings: [] }))
    for (const f of readdirSync(dir).filter((n) => n.startsWith('memory-'))) {
      const doc = JSON.parse(readFileSync(join(dir, f), 'utf8'))
      doc.heapSnapshot = { status: 'written', file: heap, redacted: true, bytes: 60 }
      writeFileSync(join(dir, f), JSON.stringify(doc))
    }
    const out = join(scratch(), 'b.zip')
    const b = run('bundle', dir, '-o', out, '--with-snapshots')
    expect(b.status, b.stderr).toBe(0)
    const manifest = JSON.parse(Buffer.from(unzipSync(readFileSync(out))['manifest.json']).toString())
    expect(manifest.files.filter((f: any) => f.name === heap)).toHaveLength(1)
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

// ---- bundles written by hand, as a hostile one would be -----------------------------------------

interface Part {
  name: string
  /** Unpacked bytes, deflated here (or stored), */
  body?: Buffer
  stored?: boolean
  /** or raw deflate bytes as they are, */
  raw?: Buffer
  /** or the index of an earlier part whose local header and bytes this entry points at. */
  sameAs?: number
  /** The unpacked size the entry states (a bomb's lie); the true one by default. */
  claims?: number
  /** The CRC-32 the entry states; the true one of `body` by default (0 for `raw`). */
  crc?: number
}

/** A .zip: each part's local header and bytes, then the central directory, then `end` (classic by default). */
function handZip(parts: Part[], end = classicEnd): Buffer {
  const chunks: Buffer[] = []
  const placed: { at: number; data: Buffer; method: number; claims: number; crc: number }[] = []
  let offset = 0
  for (const p of parts) {
    if (p.sameAs !== undefined) {
      placed.push({ ...placed[p.sameAs], claims: p.claims ?? placed[p.sameAs].claims })
      continue
    }
    const data = p.raw ?? (p.stored ? p.body! : deflateRawSync(p.body!))
    const method = p.stored ? 0 : 8
    const claims = p.claims ?? p.body?.length ?? 0
    const crc = p.crc ?? (p.body ? crc32(p.body) : 0)
    const name = Buffer.from(p.name)
    const h = Buffer.alloc(30)
    h.writeUInt32LE(0x04034b50, 0)
    h.writeUInt16LE(20, 4)
    h.writeUInt16LE(method, 8)
    h.writeUInt32LE(crc, 14)
    h.writeUInt32LE(data.length, 18)
    h.writeUInt32LE(claims, 22)
    h.writeUInt16LE(name.length, 26)
    placed.push({ at: offset, data, method, claims, crc })
    chunks.push(h, name, data)
    offset += h.length + name.length + data.length
  }
  const central = parts.map((p, i) => {
    const name = Buffer.from(p.name)
    const c = Buffer.alloc(46)
    c.writeUInt32LE(0x02014b50, 0)
    c.writeUInt16LE(20, 4)
    c.writeUInt16LE(20, 6)
    c.writeUInt16LE(placed[i].method, 10)
    c.writeUInt32LE(placed[i].crc, 16)
    c.writeUInt32LE(placed[i].data.length, 20)
    c.writeUInt32LE(placed[i].claims, 24)
    c.writeUInt16LE(name.length, 28)
    c.writeUInt32LE(placed[i].at, 42)
    return Buffer.concat([c, name])
  })
  const directory = Buffer.concat(central)
  return Buffer.concat([...chunks, directory, end(parts.length, directory.length, offset)])
}

function classicEnd(count: number, size: number, offset: number): Buffer {
  const e = Buffer.alloc(22)
  e.writeUInt32LE(0x06054b50, 0)
  e.writeUInt16LE(count, 8)
  e.writeUInt16LE(count, 10)
  e.writeUInt32LE(size, 12)
  e.writeUInt32LE(offset, 16)
  return e
}

/** A ZIP64 end of central directory claiming `count` entries, its locator, and the classic end pointing at it. */
const zip64End = (count: bigint) => (_count: number, size: number, offset: number) => {
  const z = Buffer.alloc(56)
  z.writeUInt32LE(0x06064b50, 0)
  z.writeBigUInt64LE(44n, 4)
  z.writeUInt16LE(45, 12)
  z.writeUInt16LE(45, 14)
  z.writeBigUInt64LE(count, 24)
  z.writeBigUInt64LE(count, 32)
  z.writeBigUInt64LE(BigInt(size), 40)
  z.writeBigUInt64LE(BigInt(offset), 48)
  const locator = Buffer.alloc(20)
  locator.writeUInt32LE(0x07064b50, 0)
  locator.writeBigUInt64LE(BigInt(offset + size), 8)
  locator.writeUInt32LE(1, 16)
  const e = classicEnd(0xffff, 0xffffffff, 0xffffffff)
  return Buffer.concat([z, locator, e])
}

function writeZip(zip: Buffer): string {
  const file = join(scratch(), 'report.zip')
  writeFileSync(file, zip)
  return file
}

describe('a bundle that fails small', () => {
  // 100 MiB of zeros deflate to ~100 KiB.
  const zeros = deflateRawSync(Buffer.alloc(100 * MIB))

  it('a zip bomb of 1,000 entries over one deflate stream of 100 MiB is refused within a moment (it took minutes)', () => {
    const parts: Part[] = Array.from({ length: 1000 }, (_, i) => ({ name: dumpName(`bomb${i}`), raw: zeros, claims: 1000, ...(i ? { sameAs: 0 } : {}) }))
    const zip = handZip(parts)
    expect(zip.length).toBeLessThan(250_000)
    const r = run('inspect', writeZip(zip))
    expect(r.error).toBeUndefined()
    expect(r.ms).toBeLessThan(5_000)
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('report.zip: not a readable bundle: entry 1 of 1000 and entry 2 of 1000 share bytes')
  })

  it('entries that each inflate past their limit count toward the total: refused at 512 MiB actually inflated, whatever they claim', () => {
    // Ten entries of their own, each claiming 1,000 bytes and inflating to 100 MiB: each is
    // charged its 64 MiB limit, so the ninth passes 512 MiB.
    const parts: Part[] = Array.from({ length: 10 }, (_, i) => ({ name: `recorder-bomb${i}.jsonl`, raw: zeros, claims: 1000 }))
    const r = run('inspect', writeZip(handZip(parts)))
    expect(r.error).toBeUndefined()
    expect(r.ms).toBeLessThan(5_000)
    expect(r.status).toBe(2)
    expect(r.stderr).toContain('report.zip: refused: its entries unpack to more than 512 MiB in all (counted as they are inflated, not as the zip claims)')
  })

  it('a zip that lists more entries than 10,000 (ZIP64: 2^32 - 1) is refused before any is read; a truncated one is named', () => {
    const claims = run('inspect', writeZip(handZip([], zip64End(2n ** 32n - 1n))))
    expect(claims.error).toBeUndefined()
    expect(claims.ms).toBeLessThan(5_000)
    expect(claims.stderr).toContain('not a readable bundle: it lists 4294967295 entries; this reader reads at most 10000')
    // Skipped entries cost too: 10,001 empty ones of names not ours.
    const many = run('inspect', writeZip(handZip(Array.from({ length: 10_001 }, (_, i) => ({ name: `x${i}`, body: Buffer.alloc(0), stored: true })))))
    expect(many.stderr).toContain('not a readable bundle: it lists 10001 entries; this reader reads at most 10000')
    const whole = handZip(readdirSync(fixture).map((f) => ({ name: f, body: readFileSync(join(fixture, f)) })))
    const cut = run('inspect', writeZip(whole.subarray(0, whole.length - 100)))
    expect([cut.status, cut.stderr]).toEqual([2, expect.stringContaining('not a readable bundle: no end of central directory (truncated, or not a zip)')])
  })

  it('one damaged, oversized or repeated entry is named and the rest is read', () => {
    const real = readdirSync(fixture).map((f) => ({ name: f, body: readFileSync(join(fixture, f)) }))
    const zip = handZip([
      ...real,
      { name: dumpName('damaged'), raw: Buffer.from([0xff, 0xff, 0xff, 0xff]) },
      { name: dumpName('large'), body: Buffer.alloc(9 * MIB, 0x20) },
      { ...real[0] },
      { name: `../${dumpName('outside')}`, body: real[0].body },
    ])
    const r = run('inspect', writeZip(zip))
    expect(r.status, r.stderr).toBe(1)
    expect(r.stdout).toContain(`report.zip/${dumpName('damaged')}: skipped: its entry is damaged`)
    expect(r.stdout).toContain(`report.zip/${dumpName('large')}: skipped: it unpacks to more than 8 MiB, this reader's limit for this kind of file`)
    expect(r.stdout).toContain(`report.zip/${real[0].name}: skipped: a second entry of that name in the bundle`)
    expect(r.stdout).not.toContain('outside')
    expect(r.stdout).toMatch(/^Session demosess, process 2919/m)
    expect(r.stdout).toMatch(/^ {2}Verdict: crashed/m)
  })
})

describe('messages that name a file', () => {
  it('show the home directory as ~ in text, on stderr and in the HTML page', () => {
    const home = scratch('home')
    const dir = join(home, 'diag')
    mkdirSync(dir)
    for (const f of readdirSync(fixture)) copyFileSync(join(fixture, f), join(dir, f))
    writeFileSync(join(dir, dumpName('shadow')), SECRET)
    const env = { ...process.env, HOME: home, USERPROFILE: home }
    const html = join(scratch(), 'page.html')
    const r = spawnSync(process.execPath, [cli, 'inspect', dir, '--html', html], { encoding: 'utf8', env, timeout: 30_000 })
    expect(r.status, r.stderr).toBe(1)
    expect(r.stdout).toContain(`~/diag/${dumpName('shadow')}: not complete JSON`)
    expect(readFileSync(html, 'utf8')).toContain(`~/diag/${dumpName('shadow')}: not complete JSON`)
    const alone = spawnSync(process.execPath, [cli, 'inspect', join(dir, dumpName('shadow'))], { encoding: 'utf8', env, timeout: 30_000 })
    expect(alone.stderr).toBe(`~/diag/${dumpName('shadow')}: not complete JSON (truncated or corrupt): not valid JSON (at byte 0)\n`)
    for (const o of [r.stdout, alone.stderr, readFileSync(html, 'utf8')]) expect(o).not.toContain(home)
  })
})

// ---- issue 35, second round: what an outside tester's hostile files did ----------------------

/** A child with a small JS heap, so that what a run keeps is measured, not the machine's RAM. */
function runCapped(heapMb: number, ...args: string[]) {
  const started = Date.now()
  const r = spawnSync(process.execPath, [`--max-old-space-size=${heapMb}`, cli, ...args], { encoding: 'utf8', timeout: 60_000 })
  return { ...r, ms: Date.now() - started }
}

const fixtureDump = () => JSON.parse(readFileSync(join(fixture, 'memory-demosess-2026-11-26T18-53-00-485Z-1.json'), 'utf8'))
const START = {
  type: 'start',
  t: '2026-12-07T07:17:23.891Z',
  epochMs: 1796627843891,
  pid: 5338,
  processStartMs: 1796627842860,
  sessionId: 's',
  intervalMs: 100,
  schemaVersion: 1,
}

describe('what one run keeps is bounded, not only what it reads', () => {
  it("a dump's history of 500,000 {} is cut to its first and last 5,000 and named; one of 2.5 million is skipped (2.8 million ended in a V8 heap OOM)", () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    const raw = JSON.stringify(fixtureDump())
    writeFileSync(join(dir, dumpName('history')), `${raw.slice(0, -1)},"history":[${Array(500_000).fill('{}').join(',')}]}`)
    const r = runCapped(256, 'inspect', dir)
    expect(r.status, r.stderr.slice(-300)).toBe(1)
    expect(r.stdout).toContain(`${dumpName('history')}: /history has 500000 entries: only the first and last 5000 of each were read`)
    expect(r.stdout).toMatch(/^Session demosess, process 2919/m)
    const out = join(scratch(), 'b.zip')
    const b = runCapped(256, 'bundle', dir, '-o', out)
    expect(b.status, b.stderr.slice(-300)).toBe(0)
    const m = JSON.parse(Buffer.from(unzipSync(readFileSync(out))['manifest.json']).toString())
    expect(m.notIncluded.boundedOnRead).toEqual([{ name: dumpName('history'), reason: expect.stringContaining('/history has 500000 entries') }])
    // Past 1,000,000 values, counted before it is parsed, it is skipped: JSON.parse's own cost is bounded too.
    writeFileSync(join(dir, dumpName('history')), `${raw.slice(0, -1)},"history":[${Array(2_500_000).fill('{}').join(',')}]}`)
    const huge = runCapped(128, 'inspect', dir)
    expect(huge.status, huge.stderr.slice(-300)).toBe(2)
    expect(huge.stderr).toMatch(new RegExp(`${dumpName('history')}: skipped: it holds more than 1000000 JSON values \\(at byte \\d+\\)`))
    const none = runCapped(128, 'bundle', dir, '-o', join(scratch(), 'c.zip'))
    expect(none.status, none.stderr.slice(-300)).toBe(2)
    expect(none.stderr).toContain(`no readable dump or recorder file in it (${dumpName('history')}: skipped: it holds more than 1000000 JSON values`)
  }, 60_000)

  it('8 hard links to one 8 MiB trail of minimal samples (1.6 million records) are read within a 256 MB heap, each thinned to 20,000 records', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    const line = '{"type":"sample","epochMs":1796627843891}\n'
    writeFileSync(join(dir, 'recorder-s-5338-aaaaaaaa.jsonl'), JSON.stringify(START) + '\n' + line.repeat(Math.floor((8 * MIB) / line.length)))
    for (let i = 1; i < 8; i++) linkSync(join(dir, 'recorder-s-5338-aaaaaaaa.jsonl'), join(dir, `recorder-s-533${i}-aaaaaaa${i}.jsonl`))
    const r = runCapped(256, 'inspect', dir)
    // Thinning is a note: the files are fine.
    expect(r.status, r.stderr.slice(-300)).toBe(0)
    expect(r.stdout).toMatch(/recorder-s-5338-aaaaaaaa\.jsonl: 199729 records: more than the 20000 this reader keeps of one file; samples thinned to one in 16/)
    expect(r.stdout).toMatch(/^ {2}Recorder: \d+ samples in recorder-s-5331-aaaaaaa1\.jsonl/m)
  }, 60_000)

  it('bundle of 4 links to a 16 MiB trail of real samples fits a 128 MB heap (it ended in a V8 heap OOM)', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    const sample = JSON.parse(readFileSync(join(fixture, 'recorder-demosess.jsonl'), 'utf8').split('\n')[2])
    const lines = [JSON.stringify(START)]
    for (let n = 0, size = 0; size < 16 * MIB; n++) {
      const l = JSON.stringify({ ...sample, epochMs: START.epochMs + n * 100, t: new Date(START.epochMs + n * 100).toISOString() })
      lines.push(l)
      size += l.length + 1
    }
    writeFileSync(join(dir, 'recorder-s-5338-aaaaaaaa.jsonl'), lines.join('\n') + '\n')
    for (let i = 1; i < 4; i++) linkSync(join(dir, 'recorder-s-5338-aaaaaaaa.jsonl'), join(dir, `recorder-s-533${i}-aaaaaaa${i}.jsonl`))
    const out = join(scratch(), 'b.zip')
    const b = runCapped(128, 'bundle', dir, '--all', '-o', out)
    expect(b.status, b.stderr.slice(-300)).toBe(0)
    const m = JSON.parse(Buffer.from(unzipSync(readFileSync(out))['manifest.json']).toString())
    expect(m.notIncluded.boundedOnRead).toHaveLength(4)
    expect(m.notIncluded.boundedOnRead[0].reason).toMatch(/^\d+ records, more than the 20000 kept of one trail: \d+ kept, samples thinned$/)
  }, 60_000)

  it('a sample of 1.7e308 bytes is treated as missing: --svg, --html and bundle finish at once (they looped forever)', () => {
    const dir = crashDir()
    const trail = join(dir, 'recorder-demosess.jsonl')
    const recs = readFileSync(trail, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
    writeFileSync(trail, recs.map((r) => JSON.stringify(r.type === 'sample' ? { ...r, rssBytes: 1.7e308 } : r)).join('\n') + '\n')
    const svg = join(scratch(), 't.svg')
    const r = run('inspect', dir, '--svg', svg, '--html', join(scratch(), 't.html'))
    expect(r.error).toBeUndefined()
    expect(r.ms).toBeLessThan(10_000)
    expect(r.status, r.stderr).toBe(0)
    expect(readFileSync(svg, 'utf8')).not.toContain('Infinity')
    const b = run('bundle', dir, '-o', join(scratch(), 'b.zip'))
    expect([b.error, b.status]).toEqual([undefined, 0])
  })
})

describe('a field of the wrong type is missing, never converted', () => {
  it('{"toString":1} as a trigger, a risk type, a stack status or an exit reason names nothing and aborts nothing', () => {
    const dir = crashDir()
    const evil = { toString: 1 }
    const d = fixtureDump()
    Object.assign(d, { trigger: 'watchdog', sessionId: evil, watchdog: { stalledMs: 6000, stack: { status: evil, reason: evil } } })
    d.analysis = { ...d.analysis, risks: [{ type: evil, severity: evil }] }
    d.heapSnapshot = { status: 'written', file: evil, bytes: 1, millis: 1, redacted: true }
    writeFileSync(join(dir, dumpName('evil')), JSON.stringify({ ...d, timestamp: '2026-11-26T18:53:01.000Z' }))
    writeFileSync(
      join(dir, 'recorder-evil.jsonl'),
      `${JSON.stringify({ ...START, pid: 7 })}\n${JSON.stringify({ type: 'exit', epochMs: START.epochMs + 5, reason: evil })}\n`,
    )
    const r = run('inspect', dir)
    expect(r.status, r.stderr).toBe(1)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/^Session demosess, process 2919/m)
    expect(r.stdout).toContain("the recorder's exit record (its reason unreadable)")
    expect(r.stdout).toContain('the event loop was blocked ≥ 6000 ms; the stack was of no readable status.')
    expect(r.stdout).toContain(`${dumpName('evil')}: does not match schema version 1`)
    const out = join(scratch(), 'b.zip')
    const b = run('bundle', dir, '-o', out, '--all')
    expect(b.status, b.stderr).toBe(0)
    expect(Object.keys(unzipSync(readFileSync(out)))).toContain(dumpName('evil'))
  })

  it("a bundle's manifest with an object for its version, null for its producer and a 100,000-character note", () => {
    const real = readdirSync(fixture).map((f) => ({ name: f, body: readFileSync(join(fixture, f)) }))
    const manifest = (m: object) => ({ name: 'manifest.json', body: Buffer.from(JSON.stringify({ format: 'memory-diagnostics-dumper bundle', ...m })) })
    const a = run('inspect', writeZip(handZip([...real, manifest({ producer: { version: { toString: 1 } }, createdAt: { toString: 1 } })])))
    expect(a.status, a.stderr).toBe(0)
    expect(a.stdout).toContain('report.zip: a bundle made by memory-diagnostics-dumper unreadable at unreadable; unreadable')
    const b = run(
      'inspect',
      writeZip(handZip([...real, manifest({ producer: null, createdAt: '2026-12-07T07:17:25.080Z', budget: { note: 'x'.repeat(100_000) } })])),
    )
    expect(b.status, b.stderr).toBe(0)
    const note = b.stdout.split('\n').find((l) => l.includes('a bundle made by'))!
    expect(note).toContain('memory-diagnostics-dumper unreadable at 2026-12-07T07:17:25.080Z; xxx')
    expect(note).not.toContain('undefined')
    // The note is cut at 300 characters (the line that names the bundle at 400).
    expect(note.match(/x+…$/)![0].length).toBeLessThanOrEqual(301)
    expect(note.length).toBeLessThanOrEqual(401)
  })
})

describe.skipIf(process.platform !== 'linux' || !isRoot)('a full disk (a tmpfs of 64 KiB; needs root)', () => {
  it('bundle and inspect --html leave no partial file and exit 2 naming it (bundle said it wrote a truncated zip)', () => {
    const mnt = join(scratch(), 'full')
    mkdirSync(mnt)
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status !== 0) return // no tmpfs here: nothing to test
    try {
      const dir = crashDir()
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(60 * 1024))
      const out = join(mnt, 'b.zip')
      const b = run('bundle', dir, '-o', out, '--max-bytes', '1M')
      expect(b.status).toBe(2)
      expect(b.stderr).toContain(`bundle: cannot write ${out}: no space left on the device; the partial file was removed`)
      const html = join(mnt, 'page.html')
      const r = run('inspect', dir, '--html', html)
      expect(r.status).toBe(2)
      expect(r.stderr).toContain(`cannot write ${html}: no space left on the device; nothing was left there`)
      expect(readdirSync(mnt)).toEqual(['filler'])
    } finally {
      spawnSync('umount', [mnt])
    }
  })
})

describe('the place rule on percent-encoded scripts', () => {
  it("a frame's script that is an encoded URL with credentials and a query keeps neither, in bundle and in the Stall line", () => {
    const dir = crashDir()
    const d = fixtureDump()
    const script = 'https%3A%2F%2Fcarol%3APASSW0RD3%40h.example%2Fapp.js%3Fq%3DQTOKEN3'
    d.trigger = 'watchdog'
    d.watchdog = { stalledMs: 6000, stack: { status: 'captured', frames: [{ function: 'blocker', script, line: 1, column: 1 }], captureMillis: 1 } }
    writeFileSync(join(dir, dumpName('pct')), JSON.stringify({ ...d, timestamp: '2026-11-26T18:53:01.000Z', dumpNumber: 3 }))
    const r = run('inspect', dir)
    expect(r.stdout).toContain('blocked ≥ 6000 ms in blocker (app.js:1:1)')
    const out = join(scratch(), 'b.zip')
    expect(run('bundle', dir, '-o', out, '--all').status).toBe(0)
    const packed = Buffer.from(unzipSync(readFileSync(out))[dumpName('pct')]).toString()
    expect(packed).toContain('"script": "https://h.example/app.js"')
    for (const o of [r.stdout, packed]) expect(o).not.toMatch(/PASSW0RD|QTOKEN|carol/)
  })
})

describe('files that are not what they say', () => {
  it('a bundle entry whose CRC-32 or size does not match its data is named and skipped', () => {
    const real = readdirSync(fixture).map((f) => ({ name: f, body: readFileSync(join(fixture, f)) }))
    const body = real[0].body
    const r = run(
      'inspect',
      writeZip(handZip([...real, { name: dumpName('crc'), body, crc: (crc32(body) ^ 1) >>> 0 }, { name: dumpName('size'), body, claims: body.length - 1 }])),
    )
    expect(r.status, r.stderr).toBe(1)
    expect(r.stdout).toContain(`report.zip/${dumpName('crc')}: skipped: its entry is damaged: its CRC-32 does not match its data`)
    expect(r.stdout).toContain(
      `report.zip/${dumpName('size')}: skipped: its entry is damaged: it unpacks to ${body.length} bytes, not the ${body.length - 1} it declares`,
    )
  })

  it('an empty or non-JSON recorder file is named unreadable, with no phantom process; alone it exits 2', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    writeFileSync(join(dir, 'recorder-x-1-aaaaaaaa.jsonl'), '')
    const empty = run('inspect', dir)
    expect([empty.status, empty.stdout]).toEqual([2, ''])
    expect(empty.stderr).toContain('recorder-x-1-aaaaaaaa.jsonl: unreadable: empty file')
    writeFileSync(join(dir, 'recorder-x-1-aaaaaaaa.jsonl'), 'not json at all')
    const garbage = run('inspect', dir, '--json')
    expect(garbage.status).toBe(2)
    expect(JSON.parse(garbage.stdout)).toMatchObject({ processes: [], problems: [{ error: 'unreadable: no complete JSON record in it' }] })
    copyFileSync(join(fixture, 'memory-demosess-2026-11-26T18-53-00-485Z-1.json'), join(dir, 'memory-demosess-2026-11-26T18-53-00-485Z-1.json'))
    const withDump = run('inspect', dir)
    expect(withDump.status).toBe(1)
    expect(withDump.stdout).not.toContain('Session ?')
  })

  it('over 10,000 files with none readable: the note names the rest, and --json prints its document', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    for (let i = 0; i < 10_005; i++) writeFileSync(join(dir, `memory-m-2026-12-07T07-17-24-504Z-${String(i).padStart(5, '0')}.json`), '')
    const r = run('inspect', dir)
    expect(r.status).toBe(2)
    expect(r.stderr).toContain(`${dir}: 10005 files; only the first 10000 were read`)
    const j = run('inspect', dir, '--json')
    expect(j.status).toBe(2)
    expect(JSON.parse(j.stdout).notes).toEqual([`${dir}: 10005 files; only the first 10000 were read`])
  }, 60_000)

  it('a schemaVersion that is an object or a long string is described, never quoted', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    writeFileSync(join(dir, dumpName('a')), JSON.stringify({ ...fixtureDump(), schemaVersion: `AKIA-SECRET-${'Z'.repeat(5000)}` }))
    writeFileSync(join(dir, dumpName('b')), JSON.stringify({ ...fixtureDump(), schemaVersion: { secret: 'hunter2' } }))
    const r = run('inspect', dir)
    expect(r.status).toBe(2)
    expect(r.stderr).toContain(`${dumpName('a')}: unknown schemaVersion: a string of 5012 characters (this reader knows 1)`)
    expect(r.stderr).toContain(`${dumpName('b')}: unknown schemaVersion: an object (this reader knows 1)`)
    expect(r.stderr).not.toMatch(/AKIA|hunter2/)
  })

  it.skipIf(process.platform !== 'linux')('a file whose name is not UTF-8 is named as such, not as missing; the rest is read', () => {
    const dir = crashDir()
    const name = Buffer.concat([Buffer.from('memory-'), Buffer.from([0xff, 0xfe]), Buffer.from('-2026-12-07T07-17-24-504Z-3.json')])
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/`), name]), readFileSync(join(fixture, 'memory-demosess-2026-11-26T18-53-00-485Z-1.json')))
    const r = run('inspect', dir)
    expect(r.status).toBe(1)
    expect(r.stdout).toContain('memory-\ufffd\ufffd-2026-12-07T07-17-24-504Z-3.json: skipped: its name is not UTF-8')
    expect(r.stdout).not.toContain('no such file')
    const out = join(scratch(), 'b.zip')
    // bundle's stricter names (those its writer gives) take it for a foreign file: never opened.
    const b = run('bundle', dir, '-o', out, '--all')
    expect([b.status, b.stdout]).toEqual([0, expect.stringContaining('1 file(s) not written by memory-diagnostics-dumper')])
  })

  it('bidirectional and invisible format characters from a file are shown escaped', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    writeFileSync(join(dir, dumpName('bidi')), JSON.stringify({ ...fixtureDump(), trigger: '\u202ekcatta\u2066\u200b\ufeff' }))
    const r = run('inspect', dir)
    expect(r.stdout).toContain('\\u202ekcatta\\u2066\\u200b\\ufeff')
    expect(r.stdout).not.toMatch(/[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/)
  })

  it('bundle --all names a non-dump JSON and a damaged dump with their reasons, not as files of other processes', () => {
    const dir = crashDir()
    writeFileSync(join(dir, dumpName('auths')), '{"auths":{"registry":{"auth":"x"}}}')
    writeFileSync(join(dir, dumpName('damaged')), '{"schemaVersion":1,"atTrigger":{}}')
    const out = join(scratch(), 'b.zip')
    const b = run('bundle', dir, '-o', out, '--all')
    expect(b.status, b.stderr).toBe(0)
    expect(b.stdout).not.toContain('other processes')
    expect(leftOut(out)).toMatchObject({
      [dumpName('auths')]: 'skipped: JSON, but not a memory-diagnostics-dumper dump (no schemaVersion/atTrigger)',
      [dumpName('damaged')]: expect.stringMatching(/^skipped: does not match schema version 1/),
    })
    const m = JSON.parse(Buffer.from(unzipSync(readFileSync(out))['manifest.json']).toString())
    expect(m.notIncluded.otherProcessesFiles).toBe(0)
  })
})
