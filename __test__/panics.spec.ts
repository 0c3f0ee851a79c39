import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { dumpFiles, input, readDump, root, scratch } from './helpers.js'

const require = createRequire(import.meta.url)
const hooksDir = join(root, 'target', 'test-hooks')
// The build with the `test-hooks` feature (made by `npm test`); never published.
const hooks = require(join(hooksDir, readdirSync(hooksDir).find((f) => f.endsWith('.node'))!))

describe('panics never reach Node', () => {
  afterEach(() => {
    for (const p of ['phase1', 'phase2', 'status']) hooks.testArmPanic(p, false)
  })

  it('the published build has no test hooks', () => {
    expect(require(join(root, 'native.js')).testArmPanic).toBeUndefined()
    expect(typeof hooks.testArmPanic).toBe('function')
  })

  it('a panic in phase 1 becomes a JS error; the process and the dumper carry on', async () => {
    const dir = join(scratch(), 'd')
    const d = new hooks.MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0 })
    hooks.testArmPanic('phase1', true)
    expect(() => d.dump('hard', input())).toThrow(/injected panic at phase1/)
    hooks.testArmPanic('phase1', false)
    const r = await d.dump('hard', input())
    expect(r.complete).toBe(true)
    expect(readDump(r.filePath).dumpNumber).toBe(2) // the panicking call's slot stayed consumed
  })

  it('through the package entry, a panic in phase 1 resolves { written: false, error } instead of throwing', async () => {
    const { wrap } = require(join(root, 'lib', 'dumper', 'public-class.js'))
    const d = new (wrap(hooks.MemoryDiagnosticsDumper))({ directory: join(scratch(), 'd'), cooldownMs: 0 })
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    hooks.testArmPanic('phase1', true)
    let pending: Promise<any> | undefined
    expect(() => (pending = d.dump('hard'))).not.toThrow()
    hooks.testArmPanic('phase1', false)
    const r = await pending
    expect(r).toMatchObject({ trigger: 'hard', written: false, complete: false })
    expect(r.error).toMatch(/injected panic at phase1/)
    expect(warn).toHaveBeenCalledTimes(1)
    warn.mockRestore()
    expect(await d.dump('hard')).toMatchObject({ written: true, dumpNumber: 2 })
  })

  it('through the package entry, a promise the implementation rejects still resolves { written: false, error }', async () => {
    // No implementation rejects today; the wrapper keeps a future bug from becoming an
    // unhandled rejection in a host that ignores the promise (`void dumper.dump(level)`).
    const { wrap } = require(join(root, 'lib', 'dumper', 'public-class.js'))
    class Rejecting {
      problem = null
      dump() {
        return Promise.reject(new Error('boom in phase 2'))
      }
    }
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const r = await new (wrap(Rejecting))({}).dump('critical')
    expect(r).toEqual({ trigger: 'critical', written: false, complete: false, error: 'internal error: boom in phase 2' })
    expect(warn).toHaveBeenCalledTimes(1)
    warn.mockRestore()
  })

  it('a panic in phase 2 resolves the promise with an error and leaves phase 1 in place', async () => {
    const dir = join(scratch(), 'd')
    const d = new hooks.MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0 })
    hooks.testArmPanic('phase2', true)
    const r = await d.dump('critical', input())
    expect(r).toMatchObject({ complete: false, written: true })
    expect(r.error).toMatch(/^phase 2: internal error \(panic\): test hook: injected panic at phase2; the phase-1 document is left in place$/)
    expect(dumpFiles(dir)).toEqual([r.filePath])
    expect(readDump(r.filePath).collectionComplete).toBe(false)
    // The background thread survived the panic.
    hooks.testArmPanic('phase2', false)
    expect((await d.dump('hard', input())).complete).toBe(true)
  })

  it('a panic inside one probe is recorded as that probe failing', async () => {
    const d = new hooks.MemoryDiagnosticsDumper({ directory: join(scratch(), 'd'), cooldownMs: 0 })
    hooks.testArmPanic('status', true)
    const r = await d.dump('hard', input())
    expect(r.complete).toBe(true)
    const doc = readDump(r.filePath)
    expect(doc.process.status).toBeNull()
    expect(doc.collection.failedProbes).toEqual([{ probe: 'status', reason: 'internal error (panic): test hook: injected panic at status' }])
  })

  it('the internal attach calls settle with their problem, never a rejection: a dump its recorder did not write, a file not there', async () => {
    const dir = join(scratch(), 'd')
    const d = new hooks.MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0 })
    const r = await d.dump('hard', input())
    expect(r.complete).toBe(true)
    const heap = input().heapStatistics
    const usage = input().memoryUsage
    // Not a dump of this dumper's recorder thread: said, and the file is left as it was.
    const before = readDump(r.filePath)
    await expect(d.ownDumpAttach(r.filePath, 5, heap, usage, null)).resolves.toMatch(
      /is not a dump this dumper's recorder thread wrote, or was already added to$/,
    )
    expect(readDump(r.filePath)).toEqual(before)
    // A summary for a file that is not there: its reason, not a rejection.
    await expect(d.allocationProfileAttach(join(dir, 'memory-gone-1.json'), JSON.stringify({ sites: [] }))).resolves.toEqual(expect.any(String))
    // A summary that is not one: the field it lacks, and the dump is left as it was.
    await expect(d.allocationProfileAttach(r.filePath, JSON.stringify({ sites: [] }))).resolves.toMatch(/missing field `status`/)
    expect(readDump(r.filePath)).toEqual(before)
  })
})
