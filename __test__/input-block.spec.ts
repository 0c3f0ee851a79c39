// dump()'s figures through one block (the native fast path, lib/dumper/public-class.js): the layout is
// generated from contract.json (reordered and appended fields land in their own slots; the
// binary's layout matches), and the fast path records exactly what the checked,
// property-by-property path records for the same input: figures, nulls, warnings.
import { createRequire } from 'node:module'
import v8 from 'node:v8'
import { describe, expect, it } from 'vitest'
import { MemoryDiagnosticsDumper, addon, readDump, scratch, written } from './helpers.js'

const req = createRequire(import.meta.url)
const { makeInputWriter, makeSpacesWriter } = req('../lib/dumper/figures.js')
const contract = req('../lib/contract.json')
const layout = contract.dumpInput
const native = addon.implementation === 'native' ? req('../native.js') : null
const { fill } = req('../lib/dumper/public-class.js')

describe('the dump input block', () => {
  it('its layout is generated from contract.json: reordered and appended fields land in their own slots, left-out ones in the mask, and the native layout matches', () => {
    expect(layout.slots).toEqual([
      ...contract.input.heapStatFields.map(([k]: string[]) => `heapStatistics.${k}`),
      ...contract.input.memoryUsageFields.map(([k]: string[]) => `memoryUsage.${k}`),
    ])
    if (native) expect(native.inputFigureKeys()).toEqual(layout.slots)
    const heap = layout.slots.filter((k: string) => k.startsWith('heapStatistics.'))
    const usage = layout.slots.filter((k: string) => k.startsWith('memoryUsage.'))
    const keys: string[] = [...usage.reverse(), 'memoryUsage.appendedUsage', ...heap.reverse(), 'heapStatistics.appended_heap']
    expect(keys.join()).not.toBe(layout.slots.join())
    const h: any = {}
    const u: any = {}
    keys.forEach((k, i) => {
      const [c, f] = k.split('.')
      if (i !== 3) (c === 'heapStatistics' ? h : u)[f] = 1000 + i
    })
    const f = new Float64Array(keys.length + 1)
    expect(makeInputWriter({ maskSlot: 0, slots: keys })(f, h, u)).toBe(true)
    keys.forEach((_, i) => {
      if (i !== 3) expect(f[i + 1]).toBe(1000 + i)
    })
    expect(f[0]).toBe(2 ** 3) // the left-out field's bit
    // A value that is neither a number nor undefined: false (the checked path names it).
    expect(makeInputWriter({ maskSlot: 0, slots: keys })(f, { ...h, appended_heap: '5' }, u)).toBe(false)
    expect(() => makeInputWriter({ maskSlot: 0, slots: ['heapStatistics.a;b'] })).toThrow(/not a plain identifier/)
    // Heap spaces: after the figures, a count then each space's fields in contract order.
    expect(layout.spaceCountSlot).toBe(layout.slots.length + 1)
    if (native) expect(native.inputSpaceLayout()).toBe(`${layout.spaceCountSlot}:${layout.spaceFields.join()}:${layout.maxSpaces}`)
    const fields = [...layout.spaceFields].reverse()
    const spacesLayout = { ...layout, spaceFields: fields }
    const g = new Float64Array(layout.spaceCountSlot + 1 + layout.maxSpaces * fields.length)
    const names: string[] = []
    const spaces = [0, 1].map((i) => Object.fromEntries([['space_name', `s${i}`], ...fields.map((k: string, j: number) => [k, 100 * i + j])]))
    expect(makeSpacesWriter(spacesLayout)(g, spaces, names)).toBe(true)
    expect(names).toEqual(['s0', 's1'])
    expect(g[layout.spaceCountSlot]).toBe(2)
    expect(Array.from(g.subarray(layout.spaceCountSlot + 1, layout.spaceCountSlot + 1 + 2 * fields.length))).toEqual(
      [0, 1, 2, 3, 100, 101, 102, 103].slice(0, 2 * fields.length),
    )
    expect(makeSpacesWriter(spacesLayout)(g, [{ ...spaces[0], space_name: 5 }], names)).toBe(false)
    expect(makeSpacesWriter(spacesLayout)(g, new Array(layout.maxSpaces + 1).fill(spaces[0]), names)).toBe(false)
    expect(() => makeInputWriter({ maskSlot: 0, slots: ['process.rss'] })).toThrow(/is not heapStatistics/)
  })

  it.skipIf(!native)('the fast path is taken for the usual input and records what the checked path records', async () => {
    const base = native.MemoryDiagnosticsDumper.prototype
    const original = base.dumpFigures
    let fast = 0
    base.dumpFigures = function (...args: unknown[]) {
      // Dumps only (the deferred warm-up calls it with a trigger the addon refuses).
      if (args[0] === 'hard' || args[0] === 'manual') fast++
      return original.apply(this, args)
    }
    try {
      const hs = v8.getHeapStatistics() as any
      const mu = process.memoryUsage() as any
      const cases: [string, any, boolean][] = [
        ['omitted', undefined, true],
        ['passed', { heapStatistics: hs, memoryUsage: mu, activeResources: null, session: { turn: 3, model: 'm' } }, true],
        [
          'fields left out, NaN and negative',
          { heapStatistics: { ...hs, total_heap_size: Number.NaN, heap_size_limit: undefined }, memoryUsage: { ...mu, rss: -1 }, activeResources: null },
          true,
        ],
        [
          'heap spaces with a NaN figure',
          {
            heapStatistics: hs,
            memoryUsage: mu,
            activeResources: null,
            heapSpaces: v8.getHeapSpaceStatistics().map((x: any, i: number) => (i === 1 ? { ...x, space_used_size: Number.NaN } : x)),
          },
          true,
        ],
        [
          'a heap space without a name (its array through the checked path)',
          {
            heapStatistics: hs,
            memoryUsage: mu,
            activeResources: null,
            heapSpaces: [{ space_size: 1, space_used_size: 1, space_available_size: 1, physical_space_size: 1 }],
          },
          true,
        ],
        ['a string figure (checked path)', { heapStatistics: { ...hs, used_heap_size: '12' }, memoryUsage: mu, activeResources: null }, false],
      ]
      for (const [name, input, viaBlock] of cases) {
        const dir = scratch()
        const pub = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'pub', cooldownMs: 0 })
        // The fast path is set up a turn of the event loop after construction.
        await new Promise((r) => setImmediate(r))
        const raw = new native.MemoryDiagnosticsDumper({ directory: dir, sessionId: 'raw' })
        // An omitted input is collected by the fast path itself.
        if (input === undefined) {
          const before = fast
          expect((await pub.dump('manual')).complete).toBe(true)
          expect(fast - before).toBe(1)
        }
        // The same figures on both sides (omitted ones collected once, here).
        const given = fill(input)
        const before = fast
        const a = readDump(written(await pub.dump('hard', given)))
        expect(fast - before, name).toBe(viaBlock ? 1 : 0)
        const b = readDump(written(await raw.dump('hard', given)))
        pub.close()
        raw.close()
        expect(a.atTrigger.v8HeapStats, name).toEqual(b.atTrigger.v8HeapStats)
        expect(a.atTrigger.memoryUsage, name).toEqual(b.atTrigger.memoryUsage)
        expect(a.atTrigger.v8HeapSpaces, name).toEqual(b.atTrigger.v8HeapSpaces)
        expect(a.inputWarnings, name).toEqual(b.inputWarnings)
        expect(a.session, name).toEqual(b.session)
      }
      // `heapSpaces: true` from the host is an error, never the block's old spaces.
      const pub = new MemoryDiagnosticsDumper({ directory: scratch(), sessionId: 'bad' })
      const r = await pub.dump('hard', { heapSpaces: true } as any)
      pub.close()
      expect(r.written).toBe(false)
      expect(r.error).toMatch(/input\.heapSpaces: expected an array/)
    } finally {
      base.dumpFigures = original
    }
  })

  it.skipIf(!native)('omitted active resources cross as the types Node gives, counted by the addon into the record the checked path records', async () => {
    const net = req('node:net')
    const servers = [net.createServer().listen(0), net.createServer().listen(0)]
    const timers = [setInterval(() => {}, 60_000), setInterval(() => {}, 60_000), setTimeout(() => {}, 60_000)]
    const base = native.MemoryDiagnosticsDumper.prototype
    const original = base.dumpFigures
    const passed: unknown[] = []
    base.dumpFigures = function (...args: unknown[]) {
      if (args[0] === 'hard') passed.push(args[2])
      return original.apply(this, args)
    }
    try {
      const dir = scratch()
      const pub = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'pub', cooldownMs: 0 })
      // The fast path is set up a turn of the event loop after construction.
      await new Promise((r) => setImmediate(r))
      const raw = new native.MemoryDiagnosticsDumper({ directory: dir, sessionId: 'raw' })
      const hs = v8.getHeapStatistics()
      const mu = process.memoryUsage()
      const a = readDump(written(await pub.dump('hard', { heapStatistics: hs, memoryUsage: mu })))
      // What crossed was Node's own array, not a record built in JS...
      expect(Array.isArray(passed[0])).toBe(true)
      // ...and the document records what the checked path records for that array counted
      // in JS (the same array: resources that come and go between two calls do not matter).
      const counted: Record<string, number> = {}
      for (const type of passed[0] as string[]) counted[type] = (counted[type] ?? 0) + 1
      const b = readDump(written(await raw.dump('hard', { heapStatistics: hs, memoryUsage: mu, activeResources: counted })))
      expect(a.atTrigger.activeResources).toEqual(b.atTrigger.activeResources)
      expect(a.atTrigger.activeResources.Timeout).toBeGreaterThanOrEqual(3)
      expect(a.atTrigger.activeResources.TCPServerWrap).toBeGreaterThanOrEqual(2)
      expect(a.inputWarnings).toEqual(b.inputWarnings)
      // A long array is counted in JS instead (the addon reads an array element by element).
      const many = Array.from({ length: 300 }, () => setTimeout(() => {}, 60_000))
      timers.push(...many)
      const c = readDump(written(await pub.dump('hard', { heapStatistics: hs, memoryUsage: mu })))
      expect(Array.isArray(passed[1])).toBe(false)
      expect(c.atTrigger.activeResources.Timeout).toBeGreaterThanOrEqual(303)
      // An array from the host is still an error, named by the checked path.
      const r = await pub.dump('hard', { heapStatistics: hs, memoryUsage: mu, activeResources: ['Timeout'] } as any)
      expect(r.written).toBe(false)
      expect(r.error).toMatch(/input\.activeResources: expected a flat object of counts by resource type, or undefined, got an? array/)
      pub.close()
      raw.close()
    } finally {
      base.dumpFigures = original
      for (const t of timers) clearTimeout(t)
      for (const s of servers) s.close()
    }
  })
})
