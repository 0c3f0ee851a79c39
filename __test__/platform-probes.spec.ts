// What a dump knows on this platform: the same document shape everywhere (every figure of
// process.memory and system.memoryDetail with its source or the reason it is unavailable),
// no more unavailable probes than the platform's missing concepts, an effective limit and
// headroom, and inspect's verdict and accounting line. Runs on Linux here and under Wine
// in the Windows leg (scripts/test-platforms.mjs); a job object's memory limit is tested
// there with scripts/wine/in-job.c (MDD_IN_JOB names the built helper).
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { addon, dumpFiles, input, readDump, root, scratch, written } from './helpers.js'

const { summarize } = createRequire(import.meta.url)(join(root, 'lib', 'cli', 'inspect', 'command.js'))
const MIB = 2 ** 20

// The Linux concepts no other system has: pressure-stall information, smaps, the OOM score;
// macOS has neither mappings by file nor cgroups here.
const UNAVAILABLE_ALLOWED: Record<string, string[]> = {
  linux: [],
  win32: ['pressure', 'smapsRollup', 'oomScore'],
  darwin: ['pressure', 'smapsRollup', 'oomScore', 'mappings', 'cgroup'],
}

function everyFigureExplained(section: Record<string, any>) {
  for (const [name, f] of Object.entries(section)) {
    const explained =
      (typeof f.value === 'number' && typeof f.source === 'string') || (f.value === null && typeof f.unavailable === 'string' && f.unavailable.length > 0)
    expect(explained, `${name}: ${JSON.stringify(f)}`).toBe(true)
  }
}

describe.runIf(addon.implementation === 'native')('platform probes (native)', () => {
  it('fills the platform figures, the effective limit and the accounting; lists only the missing concepts as unavailable', async () => {
    const dir = join(scratch(), 'diag')
    const d = new addon.MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0 })
    const r = await d.dump('hard', input())
    expect(r).toMatchObject({ written: true, complete: true })
    const doc = readDump(written(r))
    const unavailable = doc.collection.failedProbes.filter((f: any) => /unavailable/.test(f.reason)).map((f: any) => f.probe)
    expect(unavailable.length).toBeLessThanOrEqual(UNAVAILABLE_ALLOWED[process.platform]?.length ?? 99)
    for (const p of unavailable) expect(UNAVAILABLE_ALLOWED[process.platform]).toContain(p)
    const m = doc.process.memory
    expect(Object.keys(m)).toEqual([
      'resident',
      'peakResident',
      'private',
      'commit',
      'peakCommit',
      'pagefile',
      'footprint',
      'compressed',
      'swap',
      'pageFaults',
      'handles',
    ])
    everyFigureExplained(m)
    everyFigureExplained(doc.system.memoryDetail)
    expect(m.resident.value).toBeGreaterThan(0)
    expect(m.resident.value).toBeLessThanOrEqual(doc.system.totalMemory)
    if (m.handles.value === null) {
      // Wine 8's GetProcessHandleCount is a stub that reports 0: recorded as a failure, not a figure.
      expect(process.platform).toBe('win32')
      expect(m.handles.unavailable).toMatch(/reported 0 open handles/)
      expect(doc.collection.failedProbes).toContainEqual({ probe: 'openFds', reason: m.handles.unavailable })
    } else {
      expect(m.handles.value).toBeGreaterThan(0)
    }
    expect(doc.memoryLimit.effectiveLimitBytes).toBeGreaterThan(0)
    expect(doc.memoryLimit.headroomBytes).toBeGreaterThanOrEqual(0)
    expect(doc.memoryAccounting.rssBytes).toBeGreaterThan(0)
    if (process.platform === 'win32') {
      expect(m.resident.source).toBe('GetProcessMemoryInfo:WorkingSetSize')
      expect(m.commit.value).toBeGreaterThan(0)
      expect(m.peakResident.value).toBeGreaterThanOrEqual(m.resident.value)
      const s = doc.system.memoryDetail
      expect(s.commitLimit.value).toBeGreaterThan(0)
      expect(s.commitTotal.value).toBeLessThanOrEqual(s.commitLimit.value)
      expect(s.memoryLoadPercent.value).toBeLessThanOrEqual(100)
      expect(doc.memoryAccounting.rssSource).toBe(m.commit.source)
      expect(m.commit.source).toMatch(/^GetProcessMemoryInfo:(PrivateUsage|PagefileUsage)$/)
      expect(doc.memoryAccounting.parts.v8Heap.bytes).toBeGreaterThan(0)
      expect(doc.jobObject.source).toBe('QueryInformationJobObject')
      expect(doc.process.resourceUsage.userCpuMicros).toBeGreaterThan(0)
      expect(doc.process.mappings.total).toBeGreaterThan(0)
      expect(doc.process.uptimeSeconds).toBeGreaterThan(0)
      expect(['job', 'commit', 'physical']).toContain(doc.memoryLimit.source)
    }
    if (process.platform === 'linux') {
      expect(m.resident.source).toBe('status:VmRSS')
      expect(m.commit.unavailable).toContain('unavailable on linux')
    }
    // inspect: the same at-a-glance line as for a Linux dump.
    const p = summarize([dir]).processes[0]
    expect(p.verdict.outcome).toBeTruthy()
    const row = p.dumps[0]
    expect(row.effectiveLimit).toBe(doc.memoryLimit.effectiveLimitBytes)
    expect(row.rss).toBeGreaterThan(0)
    expect(row.accounting).toMatch(/JS heap \d/)
    if (process.platform === 'win32') expect(row.accounting).toContain('private bytes')
  })

  // A process started inside a job object whose processes may each commit 256 MiB. On
  // Windows the job's limit is the effective one; Wine 8 keeps a job's membership but
  // returns no limit flags from QueryInformationJobObject, so there the dump must say what
  // the system says (in a job, no limit), which `in-job.exe --query` shows independently.
  it.runIf(process.platform === 'win32' && !!process.env.MDD_IN_JOB)("reports a job object's 256 MiB memory limit as the effective limit", () => {
    const helper = resolve(process.env.MDD_IN_JOB as string)
    expect(existsSync(helper)).toBe(true)
    const dir = join(scratch(), 'job')
    const out = join(scratch(), 'result.json')
    const script = join(scratch(), 'child.js')
    writeFileSync(
      script,
      `const { MemoryDiagnosticsDumper } = require(${JSON.stringify(join(root, 'index.js'))})
new MemoryDiagnosticsDumper({ directory: ${JSON.stringify(dir)} }).dump('hard').then((r) => require('fs').writeFileSync(${JSON.stringify(out)}, JSON.stringify(r)))`,
    )
    const run = spawnSync(helper, ['256', process.execPath, script], { encoding: 'utf8', timeout: 120_000 })
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0)
    const r = JSON.parse(readFileSync(out, 'utf8'))
    expect(r).toMatchObject({ written: true, complete: true })
    const doc = readDump(written(r))
    expect(doc.jobObject.inJob).toBe(true)
    const q = spawnSync(helper, ['256', helper, '--query'], { encoding: 'utf8', timeout: 60_000 })
    const reported = Number(/processMemoryLimit=(\d+)/.exec(q.stdout)?.[1])
    console.log(`in-job --query: ${q.stdout.trim()}; dump: jobObject ${JSON.stringify(doc.jobObject)}, memoryLimit ${JSON.stringify(doc.memoryLimit)}`)
    if (reported === 256 * MIB) {
      expect(doc.jobObject.processMemoryLimitBytes).toBe(256 * MIB)
      expect(doc.memoryLimit).toMatchObject({ source: 'job', effectiveLimitBytes: 256 * MIB })
      expect(doc.memoryLimit.headroomBytes).toBe(256 * MIB - doc.process.memory.commit.value)
    } else {
      // The system itself reports no limit (Wine): neither does the dump.
      expect(q.stdout).toMatch(/inJob=1 flags=0x0 processMemoryLimit=0/)
      expect(doc.jobObject.processMemoryLimitBytes).toBeNull()
      expect(doc.memoryLimit.source).not.toBe('job')
    }
    expect(dumpFiles(dir)).toHaveLength(1)
  })
})
