// V8's sampling heap profiler is one per isolate: any session's stopSampling, or the end of
// the session that started it, stops it for all. Allocation profiles share it politely: a
// host's own sampling is joined and never stopped, sampling other code stopped is started
// again (and the dump says so), and two copies of the package in one process keep one count.
// The room the profile's fetch needs is judged against the old generation's real limit.
import { spawnSync } from 'node:child_process'
import { cpSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { implementations, root, scratch } from './helpers.js'

/** Runs `code` in a fresh Node (with `pkg`, `dir` and `post` defined) and returns its last stdout line as JSON. */
function run(code: string, env: NodeJS.ProcessEnv, pkgs: string[] = [root], args: string[] = []) {
  const prelude = `
    const pkgs = ${JSON.stringify(pkgs)}
    const dir = ${JSON.stringify(scratch('shared-profiler'))}
    const { Session } = require('node:inspector')
    const post = (s, m, p) => { let out; s.post(m, p || {}, (e, r) => { out = e ? { error: e.message } : { ok: true, profile: !!(r && r.profile) } }); return out }
    const keep = []
    const grow = (n) => { for (let i = 0; i < n; i++) keep.push({ i, s: 'x' + i, a: [i] }) }
    const opts = (i) => ({ directory: dir + '/' + i, sessionId: 's' + i, allocationProfile: { samplingIntervalBytes: 4096 }, cooldownMs: 0 })
    // The dump's promise does not keep a process alive: this does, until the result is out.
    const alive = setInterval(() => {}, 1000)
    const done = (x) => { console.log(JSON.stringify(x)); clearInterval(alive) }
  `
  const r = spawnSync(
    process.execPath,
    [
      ...args,
      '-e',
      `${prelude}\n(async () => {\n${code}\n})().catch((e) => { console.log(JSON.stringify({ thrown: String(e && e.stack) })); process.exit(1) })`,
    ],
    {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ...env },
    },
  )
  const last = r.stdout.trim().split('\n').at(-1) ?? ''
  let out: any
  try {
    out = JSON.parse(last)
  } catch {
    throw new Error(`no result: status ${r.status}\n${r.stdout}\n${r.stderr}`)
  }
  expect(out.thrown, r.stderr).toBeUndefined()
  return { out, stderr: r.stderr }
}

/** A copy of the package as npm would install it, in its own directory. */
function copyOfPackage(to: string): string {
  for (const f of readdirSync(root)) {
    if (['index.js', 'package.json', 'native.js', 'lib'].includes(f) || f.endsWith('.node')) cpSync(join(root, f), join(to, f), { recursive: true })
  }
  return to
}

for (const impl of implementations) {
  describe(`the sampling heap profiler, shared (${impl.name})`, () => {
    it("a dumper closed beside the host's own sampling leaves it running: the host still gets its profile", () => {
      const { out } = run(
        `
        const host = new Session(); host.connect()
        post(host, 'HeapProfiler.startSampling', { samplingInterval: 1024 })
        const d = new (require(pkgs[0]).MemoryDiagnosticsDumper)(opts(0))
        grow(20000)
        const r = await d.dump('hard')
        d.close()
        done({ dump: r.allocationProfile, host: post(host, 'HeapProfiler.getSamplingProfile') })`,
        impl.env,
      )
      // The dump used the host's sampling, and the host's profile survived the close.
      expect(out.dump).toMatchObject({ status: 'taken' })
      expect(out.host).toEqual({ ok: true, profile: true })
    })

    it('sampling other code stopped is started again: the dump after says so, the next one has sites', () => {
      const { out } = run(
        `
        const d = new (require(pkgs[0]).MemoryDiagnosticsDumper)(opts(0))
        // The host starts and stops its own sampling (the stop ends the isolate's one profiler).
        const host = new Session(); host.connect()
        post(host, 'HeapProfiler.startSampling')
        post(host, 'HeapProfiler.stopSampling')
        grow(20000)
        const first = await d.dump('hard')
        grow(20000)
        const second = await d.dump('hard')
        d.close()
        done({ first: first.allocationProfile, second: second.allocationProfile })`,
        impl.env,
      )
      expect(out.first).toMatchObject({
        status: 'skipped',
        skipped: expect.stringMatching(/other code in this process stopped the sampling heap profiler; it samples again/),
      })
      expect(out.second).toMatchObject({ status: 'taken' })
      expect(out.second.sites).toBeGreaterThan(0)
    })
  })
}

describe('the sampling heap profiler, two copies of the package in one process', () => {
  it("closing one copy's dumper leaves the other's profiles, and a host's sampling outlives both", () => {
    const a = copyOfPackage(scratch('profiler-copy-a'))
    const b = copyOfPackage(scratch('profiler-copy-b'))
    const { out } = run(
      `
      const A = new (require(pkgs[0]).MemoryDiagnosticsDumper)(opts(0))
      const B = new (require(pkgs[1]).MemoryDiagnosticsDumper)(opts(1))
      A.close()
      grow(20000)
      const fromB = await B.dump('hard')
      const host = new Session(); host.connect()
      post(host, 'HeapProfiler.startSampling')
      const A2 = new (require(pkgs[0]).MemoryDiagnosticsDumper)(opts(2))
      B.close(); A2.close()
      done({ fromB: fromB.allocationProfile, host: post(host, 'HeapProfiler.getSamplingProfile') })`,
      {},
      [a, b],
    )
    expect(out.fromB).toMatchObject({ status: 'taken' })
    // The host started sampling while the copies' ran: V8 has one; the copies started it, so
    // their end stops it (documented). A host that starts first keeps it (tested above).
    expect(out.host).toMatchObject({ error: expect.stringMatching(/not started/) })
  })

  it("a host's sampling started first outlives both copies' dumpers", () => {
    const a = copyOfPackage(scratch('profiler-copy-a'))
    const b = copyOfPackage(scratch('profiler-copy-b'))
    const { out } = run(
      `
      const host = new Session(); host.connect()
      post(host, 'HeapProfiler.startSampling')
      const A = new (require(pkgs[0]).MemoryDiagnosticsDumper)(opts(0))
      const B = new (require(pkgs[1]).MemoryDiagnosticsDumper)(opts(1))
      grow(20000)
      const fromA = await A.dump('hard')
      A.close(); B.close()
      done({ fromA: fromA.allocationProfile, host: post(host, 'HeapProfiler.getSamplingProfile') })`,
      {},
      [a, b],
    )
    expect(out.fromA).toMatchObject({ status: 'taken' })
    expect(out.host).toEqual({ ok: true, profile: true })
  })
})

describe('the sampling heap profiler, against a hostile host', () => {
  for (const [name, planted] of [
    [
      'a Proxy whose every trap throws',
      "new Proxy({}, { get() { throw new Error('trap: get') }, getOwnPropertyDescriptor() { throw new Error('trap: gopd') }, has() { throw new Error('trap: has') } })",
    ],
    ['an accessor whose read throws', "undefined; Object.defineProperty(process, K, { get() { throw new Error('getter') }, configurable: true })"],
  ]) {
    it(`${name} under the package's symbol: the constructor does not throw, and dumps still get their profile`, () => {
      const { out, stderr } = run(
        `
        const K = Symbol.for('memory-diagnostics-dumper.samplingHeapProfiler')
        const planted = ${planted}
        if (planted !== undefined) { process[K] = planted; globalThis[K] = planted }
        const d = new (require(pkgs[0]).MemoryDiagnosticsDumper)(opts(0))
        grow(20000)
        const r = await d.dump('hard')
        d.close()
        done({ dump: r.allocationProfile })`,
        {},
      )
      expect(out.dump, stderr).toMatchObject({ status: 'taken' })
    })
  }

  it('with the global object closed to new properties, two copies still share one record (on process)', () => {
    const a = copyOfPackage(scratch('profiler-copy-a'))
    const b = copyOfPackage(scratch('profiler-copy-b'))
    const { out } = run(
      `
      Object.preventExtensions(globalThis)
      const A = new (require(pkgs[0]).MemoryDiagnosticsDumper)(opts(0))
      const B = new (require(pkgs[1]).MemoryDiagnosticsDumper)(opts(1))
      A.close()
      grow(20000)
      const fromB = await B.dump('hard')
      B.close()
      done({ fromB: fromB.allocationProfile })`,
      {},
      [a, b],
    )
    // Before, B's dump said "other code in this process stopped the sampling heap profiler".
    expect(out.fromB).toMatchObject({ status: 'taken' })
  })

  it('a profile that is not a tree (a replaced Session.prototype.post) is summarized in bounded time', () => {
    const { summarize } = require('../lib/dumper/allocation-profile.js')
    const node: any = { callFrame: { functionName: 'f', url: '', lineNumber: 0, columnNumber: 0 }, selfSize: 10, children: [] }
    node.children.push(node, node)
    const { total, sites } = summarize({ callFrame: {}, selfSize: 0, children: [node] }, 5)
    expect(total).toBe(10)
    expect(sites).toHaveLength(1)
  })
})

describe("the allocation profile's room in the V8 heap", () => {
  const { heapRoom } = require('../lib/dumper/allocation-profile.js')
  const MIB = 2 ** 20

  it("this Node's young-generation reserve is the one its heap limit shows (the table the unflagged figure uses)", () => {
    const r = spawnSync(process.execPath, ['--max-old-space-size=64', '-p', 'require("v8").getHeapStatistics().heap_size_limit'], { encoding: 'utf8' })
    const limit = Number(r.stdout.trim())
    expect(limit).toBeGreaterThan(64 * MIB)
    // Without the flag in view, the table for this V8 must give the reserve the limit shows.
    expect(heapRoom({ heap_size_limit: limit, used_heap_size: 0 }, [], process.versions.v8).reserve).toBe(limit - 64 * MIB)
  })

  it('reads the size flags as Node and V8 take them: quoted in NODE_OPTIONS, with a plus sign, or --max-heap-size', () => {
    const code = `console.log(JSON.stringify(require(${JSON.stringify(join(root, 'lib/dumper/allocation-profile.js'))}).heapRoom()), require('node:v8').getHeapStatistics().heap_size_limit)`
    const cases: [string[], NodeJS.ProcessEnv][] = [
      [[], { NODE_OPTIONS: '"--max-old-space-size=96"' }],
      [['--max-old-space-size=+96'], {}],
      [[], { NODE_OPTIONS: '"--max-semi-space-size=8" --max-old-space-size=96' }],
    ]
    for (const [args, env] of cases) {
      const r = spawnSync(process.execPath, [...args, '-e', code], { encoding: 'utf8', env: { ...process.env, ...env } })
      expect(r.status, r.stderr).toBe(0)
      const [room, limit] = r.stdout.trim().split(' ')
      expect(JSON.parse(room).reserve, JSON.stringify({ args, env })).toBe(Number(limit) - 96 * MIB)
    }
    // --max-heap-size sets the whole limit; the young generation is sized down with it.
    expect(heapRoom({ heap_size_limit: 200 * MIB, used_heap_size: 0 }, ['--max-heap-size=200'], '13.6').reserve).toBeLessThanOrEqual(25 * MIB)
  })

  it('the figure the fetch trusts is near zero when V8 runs out of heap (limit − used stayed ≥ 32 MiB)', () => {
    const code = `
      const fs = require('node:fs'); const v8 = require('node:v8')
      const { heapRoom } = require(${JSON.stringify(join(root, 'lib/dumper/allocation-profile.js'))})
      const keep = []
      ;(function step() {
        for (let i = 0; i < 2000; i++) keep.push({ i, s: 'x' + i, a: [i, i] })
        const h = v8.getHeapStatistics()
        fs.writeSync(1, heapRoom().free + ' ' + (h.heap_size_limit - h.used_heap_size) + '\\n')
        setImmediate(step)
      })()`
    const r = spawnSync(process.execPath, ['--max-old-space-size=96', '-e', code], { encoding: 'utf8', timeout: 60_000, maxBuffer: 64 * MIB })
    expect(r.status, r.stderr.slice(0, 300)).not.toBe(0)
    expect(r.stderr).toMatch(/heap out of memory/i)
    const [room, naive] = r.stdout.trim().split('\n').at(-1)!.split(' ').map(Number)
    // The last figure before the OOM: the old one claimed ≥ 32 MiB of room (the guard let a
    // fetch through); the one the guard trusts now says there is almost none.
    expect(naive).toBeGreaterThanOrEqual(32 * MIB)
    expect(room).toBeLessThan(8 * MIB)
  })
})
