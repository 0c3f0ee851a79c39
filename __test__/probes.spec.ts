import { spawn } from 'node:child_process'
import { readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { input, MemoryDiagnosticsDumper, makeMemoryCgroup, readDump, root, scratch, waitFor, written } from './helpers.js'

const MiB = 1 << 20

describe('phase 2 sees the whole memory picture (live, this machine)', () => {
  it("reports this process's cgroup exactly as the kernel files say", async () => {
    const dumper = new MemoryDiagnosticsDumper({ directory: join(scratch(), 'd') })
    const doc = readDump(written(await dumper.dump('hard', input())))
    if (!doc.cgroup) {
      console.log(`no memory cgroup here: ${JSON.stringify(doc.collection.failedProbes)}`)
      expect(doc.collection.failedProbes.map((f: any) => f.probe)).toContain('cgroup')
      return
    }
    const [limitFile, usageFile] = doc.cgroup.version === 'v2' ? ['memory.max', 'memory.current'] : ['memory.limit_in_bytes', 'memory.usage_in_bytes']
    const raw = readFileSync(join(doc.cgroup.directory, limitFile), 'utf8').trim()
    const kernelLimit = raw === 'max' || Number(raw) >= 2 ** 62 ? null : Number(raw)
    expect(doc.cgroup.limit).toBe(kernelLimit)
    const usage = Number(readFileSync(join(doc.cgroup.directory, usageFile), 'utf8'))
    expect(Math.abs(doc.cgroup.usage - usage)).toBeLessThan(64 * MiB)
    expect(readFileSync('/proc/self/cgroup', 'utf8')).toContain(doc.cgroup.path)
  })

  const limit = 160 * MiB
  const cg = makeMemoryCgroup(limit, 'probe')
  if (typeof cg === 'string') console.log(`skipped the cgroup-limit test: ${cg}`)
  it.skipIf(typeof cg === 'string')('finds the limit that kills a process in a limited cgroup, and flags it near that limit', () => {
    const group = cg as Exclude<typeof cg, string>
    try {
      const dir = join(scratch(), 'd')
      const r = group.runNode(join(root, '__test__/children/cgroup-child.mjs'), [dir, '120'])
      expect(r.status, r.stderr).toBe(0)
      const doc = readDump(JSON.parse(r.stdout.trim()).filePath)
      expect(doc.cgroup.directory).toBe(group.dir)
      expect(doc.cgroup.version).toBe(group.version)
      expect(doc.cgroup.limit).toBe(limit)
      expect(doc.cgroup.effectiveLimit).toBe(limit)
      expect(doc.cgroup.usage).toBeGreaterThan(120 * MiB)
      expect(doc.cgroup.usage).toBeLessThanOrEqual(limit)
      expect(doc.memoryLimit).toMatchObject({ source: 'cgroup', effectiveLimitBytes: limit })
      expect(doc.memoryLimit.headroomBytes).toBe(limit - doc.memoryLimit.usageBytes)
      const risk = doc.analysis.risks.find((x: any) => x.type === 'rssNearLimit')
      expect(risk, JSON.stringify(doc.analysis)).toBeDefined()
      expect(risk.evidence.effectiveLimit).toBe(limit)
      expect(doc.analysis.recommendation).toMatch(/memory limit that kills it/)
    } finally {
      group.remove()
    }
  })

  it('lists a child and a grandchild in the process tree with their memory', async () => {
    const sh = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore', detached: true })
    try {
      // The grandchild is named sh from its fork until it execs sleep: wait for the exec.
      const grandchild = await waitFor(() => {
        const kids = readFileSync(`/proc/${sh.pid}/task/${sh.pid}/children`, 'utf8').trim()
        const pid = kids ? Number(kids.split(' ')[0]) : undefined
        return pid && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'sleep' ? pid : undefined
      })
      const dumper = new MemoryDiagnosticsDumper({ directory: join(scratch(), 'd') })
      const doc = readDump(written(await dumper.dump('hard', input())))
      const tree = doc.processTree
      expect(tree.rootPid).toBe(process.pid)
      expect(tree.processes[0]).toMatchObject({ pid: process.pid, depth: 0 })
      expect(tree.processes.find((p: any) => p.pid === sh.pid)).toMatchObject({ ppid: process.pid, name: 'sh', depth: 1 })
      const gc = tree.processes.find((p: any) => p.pid === grandchild)
      expect(gc).toMatchObject({ ppid: sh.pid, name: 'sleep', depth: 2 })
      expect(gc.rssBytes).toBeGreaterThan(0)
      expect(tree.descendantsRssBytes).toBeGreaterThanOrEqual(gc.rssBytes)
      expect(tree.totalRssBytes).toBe(tree.processes.reduce((a: number, p: any) => a + (p.rssBytes ?? 0), 0))
    } finally {
      process.kill(-sh.pid!, 'SIGKILL')
    }
  })

  it('never records a Node process title (process.title) in the process tree', async () => {
    // process.title sets the kernel's command name on every Node version (--title does not on Node 26).
    const titled = spawn(process.execPath, ['-e', "process.title = 'tok-SECRETTITLE'; setTimeout(() => {}, 30000)"], { stdio: 'ignore' })
    try {
      // The kernel's comm is the title once Node has set it.
      await waitFor(() => (readFileSync(`/proc/${titled.pid}/comm`, 'utf8').includes('SECRETTITLE') ? true : undefined))
      const dumper = new MemoryDiagnosticsDumper({ directory: join(scratch(), 'd') })
      const file = written(await dumper.dump('hard', input()))
      const entry = readDump(file).processTree.processes.find((p: any) => p.pid === titled.pid)
      expect(entry).toMatchObject({ ppid: process.pid, depth: 1 })
      expect(entry.name).toBe(readlinkSync(`/proc/${titled.pid}/exe`).split('/').pop()!.slice(0, 15))
      expect(readFileSync(file, 'utf8')).not.toContain('SECRETTITLE')
    } finally {
      titled.kill('SIGKILL')
    }
  })

  it('records the Linux process figures and their collection time', async () => {
    const dumper = new MemoryDiagnosticsDumper({ directory: join(scratch(), 'd'), smapsRollup: 'always' })
    const doc = readDump(written(await dumper.dump('hard', input())))
    expect(doc.process.status.vmPeak).toBeGreaterThanOrEqual(doc.process.status.vmRss)
    expect(doc.process.status.vmPte).toBeGreaterThan(0)
    expect(doc.process.oomScore.adj).toBe(Number(readFileSync('/proc/self/oom_score_adj', 'utf8')))
    expect(doc.process.mappings.fileBacked).toBeGreaterThan(0)
    expect(doc.process.pageFaults.minor).toBeGreaterThan(0)
    expect(doc.system.cpuCount).toBeGreaterThan(0)
    expect(doc.system.kernelVersion).toBe(readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim())
    expect(doc.system.meminfo.cached).toBeGreaterThan(0)
    expect(doc.collection.failedProbes).toEqual([])
    expect(Object.keys(doc.collection.probeMicros).sort()).toEqual([
      'cgroup',
      'malloc',
      'mappings',
      'meminfo',
      'oomScore',
      'openFds',
      'openFdsLimit',
      'pageFaults',
      'pressure',
      'processTree',
      'resourceUsage',
      'smapsRollup',
      'statm',
      'status',
      'system',
      'uptime',
    ])
  })
})
