// A subclass is the natural way to adapt the class to a host's monitor: its overrides of
// dump, observe, close and resetForNewSession run whether the method is called on the
// instance or passed around unbound, on both implementations (issue 33).
import v8 from 'node:v8'
import { describe, expect, it } from 'vitest'
import { implementations, input, readDump, scratch, written } from './helpers.js'

for (const impl of implementations) {
  describe(`a subclass (${impl.name})`, () => {
    it('runs its overrides, on the instance and unbound, and reaches the base class through super', async () => {
      const calls: string[] = []
      const chat = ['a', 'b', 'c']
      let nextSession = 'sess2'
      class Dumper extends impl.MemoryDiagnosticsDumper {
        dump(trigger: any, extra?: any) {
          calls.push(`dump:${trigger}`)
          return super.dump(trigger, { ...input(), ...extra, session: { historyEntries: chat.length } })
        }
        observe(h: any, m: any) {
          calls.push('observe')
          super.observe(h, m)
        }
        resetForNewSession() {
          calls.push('reset')
          super.resetForNewSession(nextSession)
        }
        close() {
          calls.push('close')
          super.close()
        }
      }
      const dir = scratch('subclass')
      const d = new Dumper({ directory: dir, sessionId: 'first-session', cooldownMs: 0 })
      // The warm-up (an immediate queued by the constructor, so it runs before this one)
      // runs the base class's dump, never the host's override.
      await new Promise((r) => setImmediate(r))
      expect(calls).toEqual([])

      const onInstance = await d.dump('hard')
      expect(readDump(written(onInstance)).session).toEqual({ historyEntries: 3 })

      const { dump, observe, resetForNewSession, close } = d
      chat.push('d')
      const unbound = await dump('critical')
      expect(readDump(written(unbound)).session).toEqual({ historyEntries: 4 })
      observe(v8.getHeapStatistics(), process.memoryUsage())
      resetForNewSession()
      expect(d.sessionId).toBe('sess2')
      nextSession = 'sess3'
      await new Promise<void>((resolve) => setTimeout(() => resolve(d.resetForNewSession()), 0))
      expect(d.sessionId).toBe('sess3')
      const afterReset = await d.dump('hard')
      expect(written(afterReset)).toContain('sess3')
      close()
      expect(calls).toEqual(['dump:hard', 'dump:critical', 'observe', 'reset', 'reset', 'dump:hard', 'close'])
      const closed = await d.dump('hard')
      expect(closed.filePath).toBeUndefined()
    })

    it('reads no method at construction (a getter of the host runs only when called, and one that throws never throws from new), and follows a prototype changed later', async () => {
      const got: string[] = []
      class Getters extends impl.MemoryDiagnosticsDumper {}
      // An accessor where the method was (as plain JS may define it).
      Object.defineProperty(Getters.prototype, 'close', {
        get() {
          got.push('close')
          throw new Error('a getter of the host')
        },
      })
      const g = new Getters({ directory: scratch('subclass-getter'), cooldownMs: 0 })
      expect(got).toEqual([])
      expect(() => g.close()).toThrow('a getter of the host')
      expect(got).toEqual(['close'])
      impl.MemoryDiagnosticsDumper.prototype.close.call(g)

      class Later extends impl.MemoryDiagnosticsDumper {}
      const l = new Later({ directory: scratch('subclass-later'), cooldownMs: 0 })
      const { dump } = l
      const patched: string[] = []
      ;(Later.prototype as any).dump = function (this: any, t: any) {
        patched.push(t)
        return impl.MemoryDiagnosticsDumper.prototype.dump.call(this, t, input())
      }
      await dump('hard')
      await l.dump('critical')
      expect(patched).toEqual(['hard', 'critical'])
      class Other extends impl.MemoryDiagnosticsDumper {
        dump(t: any) {
          patched.push(`other:${t}`)
          return super.dump(t, input())
        }
      }
      Object.setPrototypeOf(l, Other.prototype)
      await dump('hard')
      expect(patched.at(-1)).toBe('other:hard')
      l.close()
    })

    it('observe, close and resetForNewSession called without an instance as this: nothing done, no throw', () => {
      const proto = impl.MemoryDiagnosticsDumper.prototype as any
      for (const self of [null, 1, {}, undefined]) {
        expect(() => proto.observe.call(self, v8.getHeapStatistics(), process.memoryUsage())).not.toThrow()
        expect(() => proto.close.call(self)).not.toThrow()
        expect(() => proto.resetForNewSession.call(self, 'x')).not.toThrow()
      }
    })

    it('keeps the base class bound when nothing is overridden, and takes a class field as the host wrote it', async () => {
      const dir = scratch('subclass-plain')
      class Plain extends impl.MemoryDiagnosticsDumper {}
      const p = new Plain({ directory: dir, cooldownMs: 0 })
      const { dump } = p
      expect(readDump(written(await dump('hard', input()))).trigger).toBe('hard')
      p.close()
      const seen: string[] = []
      class WithField extends impl.MemoryDiagnosticsDumper {
        dump = (trigger: any) => {
          seen.push(trigger)
          return super.dump(trigger, input())
        }
      }
      const w = new WithField({ directory: scratch('subclass-field'), cooldownMs: 0 })
      const f = w.dump
      await f('critical')
      expect(seen).toEqual(['critical'])
      w.close()
    })
  })
}
