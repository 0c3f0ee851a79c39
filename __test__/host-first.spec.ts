// The host comes first: dump() never throws for any receiver or input, a throwing getter
// costs one figure (null, with a warning) and never the dump, and the watchdog judges the
// event loop by the loop itself, without spending the host's cooldown.
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import v8 from 'node:v8'
import { describe, expect, it, vi } from 'vitest'
import { spawnSync } from 'node:child_process'
import { dumpFiles, implementations, input, readDump, recorderFile, recorderSamples, root, scratch, waitFor } from './helpers.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until<T>(what: () => T | undefined, ms = 5000): Promise<T | undefined> {
  const end = Date.now() + ms
  for (;;) {
    const v = what()
    if (v !== undefined || Date.now() > end) return v
    await sleep(20)
  }
}

for (const impl of implementations) {
  const { MemoryDiagnosticsDumper } = impl
  describe(`dump() never throws (${impl.name})`, () => {
    const make = () => {
      const dir = join(scratch(), 'd')
      return { dir, dumper: new MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0 }) }
    }

    it('works as a callback: setTimeout(dumper.dump, 0, trigger) and an EventEmitter listener', async () => {
      const { dir, dumper } = make()
      const results: Promise<any>[] = []
      const dump = dumper.dump
      await new Promise<void>((resolve) =>
        setTimeout(
          (t: 'hard') => {
            results.push(dump(t))
            resolve()
          },
          0,
          'hard',
        ),
      )
      const emitter = new EventEmitter()
      emitter.on('critical', dumper.dump)
      let thrown: unknown = null
      try {
        emitter.emit('critical', 'critical')
        setTimeout(dumper.dump, 0, 'manual')
        await sleep(20)
      } catch (e) {
        thrown = e
      }
      expect(thrown).toBeNull()
      const r = await results[0]
      expect(r).toMatchObject({ written: true, trigger: 'hard' })
      const triggers = await until(() => {
        const t = dumpFiles(dir)
          .map((f) => readDump(f).trigger)
          .sort()
        return t.length === 3 ? t : undefined
      })
      expect(triggers).toEqual(['critical', 'hard', 'manual'])
    })

    it('a foreign receiver resolves { written: false, error } instead of throwing', async () => {
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
      try {
        for (const self of [{}, null, undefined, 5, Object.create(null)]) {
          let r: any
          expect(() => (r = MemoryDiagnosticsDumper.prototype.dump.call(self, 'hard'))).not.toThrow()
          await expect(r).resolves.toMatchObject({
            written: false,
            complete: false,
            trigger: 'hard',
            error: expect.stringMatching(/without a MemoryDiagnosticsDumper as `this`/),
          })
        }
      } finally {
        warn.mockRestore()
      }
    })

    const throwers: Array<[string, () => unknown, RegExp]> = [
      ['an Error', () => new Error('boom'), /boom/],
      ['a null-prototype object', () => Object.create(null), /a thrown Object without a message/],
      [
        'an error whose message getter throws',
        () =>
          Object.defineProperty(new Error(), 'message', {
            get() {
              throw new Error('message getter')
            },
          }),
        /a thrown Error without a message/,
      ],
      ['a Symbol', () => Symbol('s'), /Symbol\(s\)/],
    ]
    for (const [name, thrown, says] of throwers) {
      it(`a figure getter that throws ${name}: that figure is null with a warning, the dump is written`, async () => {
        const { dumper } = make()
        const heapStatistics: any = { ...v8.getHeapStatistics() }
        Object.defineProperty(heapStatistics, 'used_heap_size', {
          enumerable: true,
          get() {
            throw thrown()
          },
        })
        const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
        let r: any
        try {
          expect(() => (r = dumper.dump('hard', { heapStatistics, memoryUsage: process.memoryUsage() }))).not.toThrow()
          r = await r
          expect(warn.mock.calls.map((c) => String(c[0])).join('\n')).toMatch(
            new RegExp(`input\\.heapStatistics\\.used_heap_size: reading it threw \\(.*${says.source}`),
          )
        } finally {
          warn.mockRestore()
        }
        expect(r).toMatchObject({ written: true })
        const doc = readDump(r.filePath)
        expect(doc.atTrigger.v8HeapStats.usedHeapSize).toBeNull()
        expect(doc.atTrigger.v8HeapStats.heapSizeLimit).toBe(heapStatistics.heap_size_limit)
        expect(doc.inputWarnings.join('\n')).toMatch(
          /heapStatistics\.used_heap_size: expected a non-negative finite number, got "<getter threw>"; recorded as null/,
        )
      })
    }

    it('arrays of absurd length with a throwing getter cost what the documented limits allow, not their length', async () => {
      const { dumper } = make()
      const hostileArray = (n: number) => {
        const a: any[] = new Array(n)
        Object.defineProperty(a, 0, {
          enumerable: true,
          get() {
            throw new Error('index 0')
          },
        })
        return a
      }
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
      const started = Date.now()
      let r: any
      try {
        r = await dumper.dump('hard', {
          heapStatistics: v8.getHeapStatistics(),
          memoryUsage: process.memoryUsage(),
          heapSpaces: hostileArray(2 ** 32 - 1),
          samples: hostileArray(1_000_000),
          activeResources: hostileArray(2 ** 32 - 1) as any,
        })
      } finally {
        warn.mockRestore()
      }
      // A generous ceiling: the reading copied every index before (23-28 s, and 1.5 GB).
      expect(Date.now() - started).toBeLessThan(5_000)
      expect(r.written === true || typeof r.error === 'string', JSON.stringify(r)).toBe(true)
    })

    for (const place of ['heapStatistics', 'memoryUsage', 'heapSpaces', 'samples', 'session'] as const) {
      it(`a dump() made from a getter in ${place} of another dump's input never changes the outer dump's figures`, async () => {
        const { dumper } = make()
        // The fast path is set up on the turn after construction (its warm-up).
        await new Promise((resolve) => setImmediate(resolve))
        const all = (o: object, v: number) => Object.fromEntries(Object.entries(o).map(([k, x]) => [k, typeof x === 'number' ? v : x]))
        const inner: Promise<any>[] = []
        // The hook: a getter that dumps again, with other figures, the first time it is read.
        const hooked = (o: any, key: string, value: unknown) => {
          Object.defineProperty(o, key, {
            enumerable: true,
            get() {
              if (inner.length === 0) {
                inner.push(
                  dumper.dump('critical', {
                    heapStatistics: all(v8.getHeapStatistics(), 999999) as any,
                    memoryUsage: all(process.memoryUsage(), 999999) as any,
                    heapSpaces: v8.getHeapSpaceStatistics().map((sp) => all(sp, 999999)) as any,
                  }),
                )
              }
              return value
            },
          })
          return o
        }
        const heapStatistics: any = all(v8.getHeapStatistics(), 111)
        const memoryUsage: any = all(process.memoryUsage(), 111)
        const heapSpaces: any[] = v8.getHeapSpaceStatistics().map((sp) => all(sp, 111))
        const samples: any[] = [{ t: 1, rss: 111 }]
        const session: any = { tag: 'outer' }
        if (place === 'heapStatistics') hooked(heapStatistics, 'total_heap_size', 111)
        if (place === 'memoryUsage') hooked(memoryUsage, 'external', 111)
        if (place === 'heapSpaces') hooked(heapSpaces[0], 'space_used_size', 111)
        if (place === 'samples') hooked(samples[0], 'rss', 111)
        if (place === 'session') hooked(session, 'tag', 'outer')
        const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
        let r: any
        try {
          r = await dumper.dump('hard', { heapStatistics, memoryUsage, heapSpaces, samples, session } as any)
          await Promise.all(inner)
        } finally {
          warn.mockRestore()
        }
        expect(inner, `the getter in ${place} was never read`).toHaveLength(1)
        expect(r).toMatchObject({ written: true, trigger: 'hard' })
        const doc = readDump(r.filePath)
        const figures = [...Object.values(doc.atTrigger.v8HeapStats), ...Object.values(doc.atTrigger.memoryUsage)].filter((v) => typeof v === 'number')
        expect(figures.length).toBeGreaterThan(8)
        expect(new Set(figures), JSON.stringify(doc.atTrigger)).toEqual(new Set([111]))
        const spaces = (doc.atTrigger.v8HeapSpaces ?? []).flatMap((sp: object) => Object.values(sp).filter((v) => typeof v === 'number'))
        expect(new Set(spaces)).toEqual(new Set([111]))
      })
    }

    it('a getter that calls dump() again with the same input ends at once: the nested dump is refused with a reason, never recursed into', async () => {
      const { dumper } = make()
      await new Promise((resolve) => setImmediate(resolve))
      let reads = 0
      const nested: Promise<any>[] = []
      const input: any = { heapStatistics: v8.getHeapStatistics() }
      Object.defineProperty(input, 'memoryUsage', {
        enumerable: true,
        get() {
          reads++
          nested.push(dumper.dump('critical', input))
          return process.memoryUsage()
        },
      })
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
      let r: any
      try {
        r = await dumper.dump('hard', input)
      } finally {
        warn.mockRestore()
      }
      // Before, each nested level read the input again (a guarded second try included):
      // over 2,000,000 getter calls, and the outer dump had not returned after 60 s.
      expect(reads).toBeLessThanOrEqual(4)
      expect(r).toMatchObject({ written: true, trigger: 'hard' })
      for (const n of await Promise.all(nested))
        expect(n).toMatchObject({ written: false, error: expect.stringMatching(/while another dump\(\) read its input/) })
    })

    it("dump() called at the very end of the stack (a host recursing until RangeError) never throws from the package's own code", () => {
      const { dumper } = make()
      const ours: string[] = []
      let calls = 0
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
      try {
        const deep = (): void => {
          try {
            deep()
          } catch {}
          calls++
          try {
            void dumper.dump('hard')
          } catch (e) {
            // Entering any function can overflow a full stack (that throw is the caller's,
            // at its own line); a throw from inside the package is a broken promise.
            const top = String((e as Error).stack).split('\n')[1] ?? ''
            if (/[\\/](lib|index\.js)/.test(top) && !top.includes('host-first')) ours.push(top)
          }
        }
        deep()
      } finally {
        warn.mockRestore()
      }
      expect(calls).toBeGreaterThan(100)
      expect(ours).toEqual([])
    })

    it('heapSpaces and samples given as Proxies of arrays are read as the arrays they are', async () => {
      const { dumper } = make()
      const spaces = v8.getHeapSpaceStatistics()
      const r: any = await dumper.dump('hard', {
        heapStatistics: v8.getHeapStatistics(),
        memoryUsage: process.memoryUsage(),
        heapSpaces: new Proxy(spaces, {}),
        samples: new Proxy([{ t: 1, rss: 123 }], {}) as any,
      })
      expect(r, JSON.stringify(r)).toMatchObject({ written: true })
      const doc = readDump(r.filePath)
      expect(doc.atTrigger.v8HeapSpaces.map((s: any) => s.spaceName)).toEqual(spaces.map((s) => s.space_name))
      expect(JSON.stringify(doc)).toContain('123')
    })

    it('a 50 MB string anywhere in the input costs what the documented cut allows, and is never quoted in the document', async () => {
      const { dumper } = make()
      const big = `CANARY${'x'.repeat(50_000_000)}`
      const started = Date.now()
      const heapStatistics: any = { ...v8.getHeapStatistics(), malloced_memory: 'CANARYNUMBER' }
      const r: any = await dumper.dump('hard', {
        heapStatistics,
        memoryUsage: process.memoryUsage(),
        session: { note: big },
        samples: [{ t: 1, v: big }] as any,
        activeResources: { [big.slice(0, 100)]: 1 } as any,
      })
      // A generous ceiling: the fallback copied the string into an array of characters
      // (4.6-9.7 s, and a V8 OOM under --max-old-space-size=300).
      expect(Date.now() - started).toBeLessThan(3_000)
      expect(r).toMatchObject({ written: true })
      const doc = readDump(r.filePath)
      expect(doc.session.note.length).toBeLessThanOrEqual(1024)
      expect(doc.inputWarnings.join('\n')).toMatch(/malloced_memory: expected a non-negative finite number, got a string of 12 characters/)
      expect(doc.inputWarnings.join('\n')).not.toContain('CANARYNUMBER')
    })

    it('the document names each read of the input that threw, without what was thrown', async () => {
      const { dumper } = make()
      const revoked = Proxy.revocable({}, {})
      revoked.revoke()
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
      let r: any
      try {
        r = await dumper.dump('hard', {
          heapStatistics: revoked.proxy as any,
          memoryUsage: process.memoryUsage(),
          session: {
            ok: 1,
            get bad(): never {
              throw new Error('CANARYTHROWN')
            },
          } as any,
        })
      } finally {
        warn.mockRestore()
      }
      expect(r).toMatchObject({ written: true })
      const doc = readDump(r.filePath)
      const said = doc.inputWarnings.join('\n')
      expect(said).toMatch(/input\.session\.bad: reading it threw/)
      expect(said).toMatch(/input\.heapStatistics: listing its keys threw/)
      expect(said).not.toContain('CANARYTHROWN')
      expect(doc.session).toEqual({ ok: 1 })
    })

    it('a container getter or Proxy trap that throws: that container is collected instead, the dump is written', async () => {
      const { dumper } = make()
      const hostile = {
        get heapStatistics(): never {
          throw Object.create(null)
        },
        memoryUsage: new Proxy(
          {},
          {
            ownKeys() {
              throw new Error('ownKeys trap')
            },
            get() {
              throw new Error('get trap')
            },
          },
        ),
        session: {
          ok: 1,
          get bad(): never {
            throw new Error('session getter')
          },
        },
      }
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
      let r: any
      try {
        r = await dumper.dump('critical', hostile as any)
        const said = warn.mock.calls.map((c) => String(c[0])).join('\n')
        expect(said).toMatch(/input\.heapStatistics: reading it threw \(a thrown Object without a message\)/)
        expect(said).toMatch(/input\.session\.bad: reading it threw \(session getter\)/)
      } finally {
        warn.mockRestore()
      }
      expect(r).toMatchObject({ written: true, trigger: 'critical' })
      const doc = readDump(r.filePath)
      expect(doc.atTrigger.v8HeapStats.heapSizeLimit).toBeGreaterThan(0)
      expect(doc.session).toEqual({ ok: 1 })
    })

    it('bad input that is not a throwing read is still refused with the field named, no slot used', async () => {
      const { dumper } = make()
      const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
      try {
        const r: any = await dumper.dump('hard', input({ session: [1] as any }))
        expect(r).toMatchObject({ written: false, error: expect.stringMatching(/^input\.session: expected a flat object/) })
      } finally {
        warn.mockRestore()
      }
      expect(dumper.dumpCount).toBe(0)
    })
  })
}

describe('the watchdog judges the loop by the loop (native)', () => {
  const { MemoryDiagnosticsDumper } = implementations[0]

  it('a live loop whose host never calls observe() gets no watchdog dump', async () => {
    const dir = join(scratch(), 'd')
    const d = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'live', recorder: { intervalMs: 20 }, watchdog: { rssBytes: 1, stallMs: 200 } })
    try {
      // Several times stallMs of a loop that runs (timers fire) but never calls observe():
      // until its recorder has taken 50 more samples (50 intervals, 5 stallMs).
      const samples = () => recorderSamples(recorderFile(dir, 'live'))
      const from = await waitFor(() => samples(), 'the recorder file')
      await waitFor(() => (samples() >= from + 50 ? true : undefined), '50 more samples')
      expect(dumpFiles(dir).map((f) => readDump(f).trigger)).toEqual([])
    } finally {
      d.close()
    }
  })

  it('a blocked loop still gets its watchdog dump, and it spends neither the cap nor the cooldown of the host', async () => {
    const dir = join(scratch(), 'd')
    const d = new MemoryDiagnosticsDumper({
      directory: dir,
      recorder: { intervalMs: 20 },
      watchdog: { rssBytes: 1, stallMs: 200 },
      cooldownMs: 30_000,
      maxDumpsPerSession: 1,
    })
    try {
      const end = Date.now() + 700
      while (Date.now() < end);
      const wd = await until(() =>
        dumpFiles(dir)
          .map(readDump)
          .find((x) => x.trigger === 'watchdog' && x.collectionComplete),
      )
      expect(wd, 'a watchdog dump').toBeDefined()
      expect(wd.watchdog.stalledMs).toBeGreaterThanOrEqual(200)
      const r: any = await d.dump('critical', input())
      expect(r).toMatchObject({ written: true, trigger: 'critical', dumpNumber: wd.dumpNumber + 1 })
      expect(d.dumpCount).toBe(1)
    } finally {
      d.close()
    }
  })

  it('a host that froze process still constructs dumpers and dumps; the missing exit record is said once (before: the first constructor threw a TypeError)', () => {
    const dir = join(scratch(), 'd')
    const code = `
      const { MemoryDiagnosticsDumper } = require(${JSON.stringify(join(root, 'index.js'))})
      const warnings = []
      const emit = process.emitWarning
      process.emitWarning = (m, o) => warnings.push(o && o.code)
      Object.freeze(process)
      const a = new MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)}, sessionId: 'a', recorder: {} })
      const b = new MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)}, sessionId: 'b', recorder: {} })
      a.dump('hard').then((r) => {
        console.log(JSON.stringify({ written: r.written, complete: r.complete, warnings }))
        a.close()
        b.close()
      })`
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
    expect(out).toMatchObject({ written: true, complete: true })
    expect(out.warnings.filter((c: string) => c === 'ExitHandlerUnavailable')).toHaveLength(1)
  })
})

for (const impl of implementations) {
  describe(`options read once, whatever the host's getters do (${impl.name})`, () => {
    it.each([
      [
        'a getter that throws',
        () => ({
          pressure: {
            get ratio(): number {
              throw new Error('SECRET_OPTION')
            },
          },
        }),
        'options.pressure.ratio',
        'an Error',
      ],
      [
        'a Proxy whose ownKeys throws',
        () => ({
          recorder: new Proxy(
            {},
            {
              ownKeys() {
                throw new RangeError('SECRET_OPTION')
              },
            },
          ),
        }),
        'options.recorder',
        'a RangeError',
      ],
      [
        'a top-level getter',
        () => ({
          get cooldownMs(): number {
            throw new TypeError('SECRET_OPTION')
          },
        }),
        'options.cooldownMs',
        'a TypeError',
      ],
    ])('%s: an InvalidArg error naming the field, never the host’s error (before: the host’s own error escaped)', (_, extra, field, kind) => {
      let thrown: any
      try {
        new impl.MemoryDiagnosticsDumper(Object.defineProperties({ directory: join(scratch(), 'd') }, Object.getOwnPropertyDescriptors(extra())) as any).close()
      } catch (e) {
        thrown = e
      }
      expect(thrown?.code).toBe('InvalidArg')
      expect(thrown.message).toBe(`${field}: reading it threw (${kind})`)
    })

    it('a getter runs once, and its value is what the dumper uses', () => {
      let reads = 0
      const dir = join(scratch(), 'd')
      const d = new impl.MemoryDiagnosticsDumper({
        get directory() {
          reads++
          return dir
        },
      })
      try {
        expect(reads).toBe(1)
        expect(d.directory).toBe(dir)
      } finally {
        d.close()
      }
    })
  })
}
