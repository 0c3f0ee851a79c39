// The recorder's own dump near the limit that kills the process (issue 36): in a 256 MiB memory
// cgroup, a host whose only monitor watches the V8 heap grows memory that monitor cannot see
// until the kernel kills it; the directory holds a complete `pressure` dump written before the
// kill, with what grew named (Buffers, zlib streams kept open, a child process), and inspect
// tells it; a V8 heap limit above the cgroup's is a risk of its own. Where no memory cgroup
// can be made, skipped with the reason.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { dumpFiles, makeMemoryCgroup, readDump, root, runNode, scratch, secondaryNode } from './helpers.js'

const MiB = 1024 * 1024
// The rule is the addon's, the same under every Node: the secondary Node legs (test:nodeNN)
// run the Buffers kill and the heap-limit risk (Node sizes its default heap), not the rest.
const CHILD = join(root, '__test__/children/pressure-host.mjs')

/** The directory's only dump: a complete `pressure` dump near the cgroup's `limit`, at 90% of it or, past 75%, for growth that would reach 90%. */
function onlyPressureDump(dir: string, limit: number) {
  const docs = dumpFiles(dir).map(readDump)
  expect(docs.map((d) => d.trigger)).toEqual(['pressure'])
  const [doc] = docs
  expect(doc.collectionComplete).toBe(true)
  expect(doc.nearLimit).toMatchObject({ source: 'cgroup', limitBytes: limit })
  expect(['share', 'growth']).toContain(doc.nearLimit.cause)
  return doc
}

describe('a pressure dump before the kernel kill, with no host code', () => {
  const limit = 256 * MiB
  const cg = makeMemoryCgroup(limit, 'pressure')
  if (typeof cg === 'string') console.log(`skipped the pressure kernel-OOM tests: ${cg}`)
  it.skipIf(typeof cg === 'string').each([['buffers', 'external', 'ArrayBuffers and external'], ...(secondaryNode ? [] : [['native', 'native', 'native']])])(
    '%s grow: killed by SIGKILL; one complete pressure dump, growth %s; inspect tells it',
    (what, kind, label) => {
      const group = cg as Exclude<typeof cg, string>
      const dir = join(scratch(), 'diag')
      const r = group.runNode(CHILD, [dir, what], { timeout: 90_000 })
      expect(r.signal, r.stderr).toBe('SIGKILL')
      // The host's heap monitor never fired: the heap did not grow.
      const doc = onlyPressureDump(dir, limit)
      expect(doc.nearLimit.share).toBeGreaterThanOrEqual(doc.nearLimit.cause === 'share' ? 0.9 : 0.75)
      expect(doc.nearLimit.counts).toMatch(/page cache and reclaimable slab/)
      expect(doc.analysis.growth?.kind, JSON.stringify(doc.analysis.growth)).toBe(kind)
      // inspect tells the story: the kernel's kill after the package's own dump, and what grew.
      const cli = (args: string[]) =>
        spawnSync(process.execPath, [join(root, 'bin/memory-diagnostics-dumper.js'), 'inspect', ...args, dir], { encoding: 'utf8' })
      const out = cli([]).stdout
      const pct = Math.floor(doc.nearLimit.share * 100)
      expect(out).toContain(`after a pressure dump (#1) at ${pct}% of the 256 MiB cgroup limit`)
      expect(out).toMatch(/Verdict: crashed at .*the kernel OOM/)
      expect(out).toMatch(new RegExp(`Near the limit: #1 pressure at .*: the package's own dump at ${pct}% of the 256 MiB cgroup limit`))
      expect(out).toContain(`Most likely growth: ${label}`)
      const json = JSON.parse(cli(['--json']).stdout)
      expect(json.processes[0].verdict.nearLimit[0]).toMatchObject({ dumpNumber: 1, source: 'cgroup', limitBytes: limit })
    },
  )

  it.skipIf(typeof cg === 'string' || secondaryNode)(
    'a child process grows: the kernel kills the child, and the host’s pressure dump came before, growth children',
    () => {
      const group = cg as Exclude<typeof cg, string>
      const dir = join(scratch(), 'diag')
      const r = group.runNode(CHILD, [dir, 'child'], { timeout: 90_000 })
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!).child.signal).toBe('SIGKILL')
      const doc = onlyPressureDump(dir, limit)
      expect(doc.analysis.growth?.kind, JSON.stringify(doc.analysis.growth)).toBe('children')
    },
  )

  it.skipIf(typeof cg === 'string' || secondaryNode)(
    'a host moved to another cgroup after its dumper started is watched against the limit it moved under (before: no dump, the old limit read at every sample)',
    () => {
      const small = makeMemoryCgroup(128 * MiB, 'pressure-moved')
      if (typeof small === 'string') throw new Error(small)
      const wide = makeMemoryCgroup(4096 * MiB, 'pressure-wide')
      if (typeof wide === 'string') throw new Error(wide)
      try {
        const dir = join(scratch(), 'diag')
        const r = wide.runNode(CHILD, [dir, 'move', join(small.dir, 'cgroup.procs')], { timeout: 90_000 })
        expect(r.signal, r.stderr).toBe('SIGKILL')
        const doc = onlyPressureDump(dir, 128 * MiB)
        expect(doc.nearLimit.source).toBe('cgroup')
      } finally {
        wide.remove()
        small.remove()
      }
    },
  )

  it.skipIf(typeof cg === 'string' || secondaryNode).each([
    ['at rest', 'rest'],
    ['whose heap grows to 60% of its limit and is freed, again and again', 'heap'],
  ])('no false alarm: a host %s, sampled 2,000 times, gets no pressure dump', (_, mode) => {
    // Compressed: the rule judges samples, not seconds; a sample every 10 ms for 20 s is
    // 2,000 samples, half an hour at the default interval (a real 10-minute soak at 1 s:
    // the note of issue 36).
    const group = cg as Exclude<typeof cg, string>
    const dir = join(scratch(), 'diag')
    const r = group.runNode(join(root, '__test__/children/pressure-soak.mjs'), [dir, mode, '20', '10'], {
      nodeArgs: ['--max-old-space-size=128'],
      timeout: 90_000,
    })
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
    expect(out.samples).toBeGreaterThan(1000)
    if (mode === 'heap') expect(out.peakHeapShare).toBeGreaterThan(0.55)
    expect(out.triggers.pressure ?? 0, JSON.stringify(out)).toBe(0)
  })

  it.skipIf(typeof cg === 'string')(
    'no false alarm: page cache that fills the cgroup, active or not, is not counted (before: a host using 49 MiB got a pressure dump)',
    () => {
      const group = cg as Exclude<typeof cg, string>
      const dir = join(scratch(), 'diag')
      mkdirSync(join(root, 'target'), { recursive: true })
      const r = group.runNode(join(root, '__test__/children/pressure-cache.mjs'), [dir, join(root, 'target', `pressure-cache-${process.pid}.bin`), '220'], {
        timeout: 90_000,
      })
      expect(r.status, r.stderr).toBe(0)
      const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
      expect(out.cacheMiB, JSON.stringify(out)).toBeGreaterThan(0.8 * 256)
      expect(out.triggers.pressure ?? 0, JSON.stringify(out)).toBe(0)
    },
  )

  it.skipIf(typeof cg === 'string')('a V8 heap limit above the cgroup limit is a risk of its own, with the value to set; silent without the flag', () => {
    const group = cg as Exclude<typeof cg, string>
    const risks = (nodeArgs: string[]) => {
      const dir = join(scratch(), 'diag')
      const r = group.runNode(join(root, '__test__/children/cgroup-child.mjs'), [dir, '0'], { nodeArgs, timeout: 60_000 })
      expect(r.status, r.stderr).toBe(0)
      const [doc] = dumpFiles(dir).map(readDump)
      return doc.analysis.risks as Array<{ type: string; message: string; evidence: Record<string, number> }>
    }
    const flagged = risks(['--max-old-space-size=512']).find((r) => r.type === 'heapLimitAboveMemoryLimit')
    expect(flagged, 'the risk').toBeDefined()
    expect(flagged!.evidence.effectiveLimit).toBe(limit)
    expect(flagged!.evidence.heapSizeLimit).toBeGreaterThan(512 * MiB)
    expect(flagged!.evidence.advisedMaxOldSpaceSizeMiB).toBe(192)
    expect(flagged!.message).toContain('run with --max-old-space-size=192')
    // Node sizes its default heap from the cgroup's limit.
    expect(risks([]).map((r) => r.type)).not.toContain('heapLimitAboveMemoryLimit')
  })
})

describe('what the JS thread adds to a pressure dump when its loop is alive', () => {
  const limit = 256 * MiB
  const cg = secondaryNode ? 'the secondary Node legs run the kill and the heap-limit risk only' : makeMemoryCgroup(limit, 'pressure-js')
  if (typeof cg === 'string') console.log(`skipped the JS thread's pressure additions: ${cg}`)
  const run = (mode: string) => {
    const group = cg as Exclude<typeof cg, string>
    const dir = join(scratch(), 'diag')
    const r = group.runNode(join(root, '__test__/children/pressure-js.mjs'), [dir, mode], { timeout: 90_000 })
    expect(r.status, r.stderr).toBe(0)
    return { ...JSON.parse(r.stdout.trim().split('\n').at(-1)!), dir }
  }
  const sites = (doc: any) => (doc.allocationProfile?.sites ?? []).map((s: any) => s.function)

  it.skipIf(typeof cg === 'string')('an idle loop: fresh V8 figures and the allocation sites naming the code, added to the complete dump', () => {
    const out = run('alive')
    const doc = out.doc
    expect(doc.trigger).toBe('pressure')
    expect(doc.collectionComplete).toBe(true)
    expect(doc.jsFigures, JSON.stringify(doc.jsFigures)).toBeDefined()
    expect(doc.jsFigures.v8HeapStats.usedHeapSize).toBeGreaterThan(0)
    expect(doc.jsFigures.memoryUsage.arrayBuffers).toBeGreaterThan(100 * MiB)
    expect(doc.allocationProfile.status).toBe('taken')
    expect(sites(doc)).toContain('leakRecords')
  })

  it.skipIf(typeof cg === 'string')(
    'a host that never pushes V8 figures: inspect shows the figures the JS thread added, and growth as anonymous memory, never "none found"',
    () => {
      const out = run('noobserve')
      expect(out.doc.nearLimit.v8FiguresAgeMs).toBeNull()
      expect(out.doc.jsFigures.memoryUsage.arrayBuffers).toBeGreaterThan(100 * MiB)
      const cli = (args: string[]) =>
        spawnSync(process.execPath, [join(root, 'bin/memory-diagnostics-dumper.js'), 'inspect', ...args, out.dir], { encoding: 'utf8' })
      const json = JSON.parse(cli(['--json']).stdout)
      const [row] = json.processes[0].dumps
      expect(row.arrayBuffers).toBeGreaterThan(100 * MiB)
      expect(row.heapUsed).toBeGreaterThan(0)
      expect(json.processes[0].verdict.growth?.unsplit, JSON.stringify(json.processes[0].verdict.growth)).toBe(true)
      const text = cli([]).stdout
      expect(text).toMatch(/Growth: anonymous memory, not split by kind \(anonymous memory grew \+\d+/)
      expect(text).not.toContain('Growth: none found')
    },
  )

  it.skipIf(typeof cg === 'string')(
    'a host whose process.memoryUsage throws a secret and whose global Promise is replaced: the other figures are added, the throw named by its kind only',
    () => {
      const out = run('hostile')
      const doc = out.doc
      expect(doc.jsFigures, JSON.stringify(out.warnings)).toBeDefined()
      expect(doc.jsFigures.v8HeapStats.usedHeapSize).toBeGreaterThan(0)
      expect(Object.values(doc.jsFigures.memoryUsage).every((v) => v === null)).toBe(true)
      const said = JSON.stringify(out.warnings)
      expect(said).not.toContain('SECRET_THROW_MESSAGE')
      expect(said).toContain('process.memoryUsage() threw (an Error)')
      expect(out.warnings.map((w: any) => w.code)).not.toContain('OwnDumpAttachFailed')
      expect(JSON.stringify(doc)).not.toContain('SECRET_THROW_MESSAGE')
    },
  )

  it.skipIf(typeof cg === 'string')(
    "a host whose JSON.stringify throws a secret for the sites' section: the JS thread's part is not added, one warning names the throw's kind, and telemetry still gets the dump's record",
    () => {
      const out = run('stringifyThrows')
      const doc = out.doc
      expect(doc.trigger).toBe('pressure')
      expect(doc.collectionComplete).toBe(true)
      expect(doc.jsFigures).toBeUndefined()
      const failed = out.warnings.filter((w: any) => w.code === 'OwnDumpAttachFailed')
      expect(failed.length, JSON.stringify(out.warnings)).toBe(1)
      expect(failed[0].message, failed[0].message).toMatch(/internal error: \(an Error\)$/)
      expect(out.records.length).toBe(1)
      expect(out.records[0].attributes).toMatchObject({ 'memory_diagnostics.trigger': 'pressure', 'memory_diagnostics.dump.number': doc.dumpNumber })
      expect(JSON.stringify(out)).not.toContain('SECRET_THROW_MESSAGE')
    },
  )

  it.skipIf(typeof cg === 'string')(
    'close() and process.exit() the moment a pressure dump lands: its phase 2 still finishes (before: 3 of 20 left phase 1 only and a temporary file)',
    () => {
      const group = cg as Exclude<typeof cg, string>
      const dir = join(scratch(), 'diag')
      const r = group.runNode(join(root, '__test__/children/pressure-exit.mjs'), [dir], { timeout: 90_000 })
      expect(r.status, r.stderr).toBe(4)
      const docs = dumpFiles(dir).map(readDump)
      expect(docs.map((d) => [d.trigger, d.collectionComplete])).toEqual([['pressure', true]])
      expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([])
    },
  )

  it.skipIf(typeof cg === 'string')('a blocked loop: the dump is complete on disk without the JS thread; its figures follow when the loop answers', () => {
    const out = run('block')
    expect(out.completeWhileBlocked).toBe(true)
    expect(out.jsFiguresWhileBlocked).toBe(false)
    const doc = out.doc
    expect(doc.jsFigures, JSON.stringify(out)).toBeDefined()
    // Read after the loop was released, at least 300 ms after the complete dump was seen.
    expect(doc.jsFigures.delayMs).toBeGreaterThanOrEqual(300)
    expect(sites(doc)).toContain('leakRecords')
  })

  it.skipIf(secondaryNode)('a dumper the host drops is still collected: the JS thread’s callback holds it weakly', () => {
    for (const options of [{ recorder: { intervalMs: 50 } }, { recorder: { intervalMs: 50 }, allocationProfile: true }]) {
      const r = runNode(join(root, '__test__/children/pressure-gc.mjs'), [join(scratch(), 'diag'), JSON.stringify(options)], { nodeArgs: ['--expose-gc'] })
      expect(r.status, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!).collected, JSON.stringify(options)).toBe(5)
    }
  })
})
