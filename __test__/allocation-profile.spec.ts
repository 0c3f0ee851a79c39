// Allocation profiles with real processes: three leaks whose growing site inspect must
// name (the leaking line), an idle control that names none, on both implementations; the
// option checked alike by both; no value of the heap in any file.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { implementations, pool, readDump, root, runNode, scratch } from './helpers.js'

const CHILD = join(root, '__test__/children/alloc-leak.mjs')
const CLI = join(root, 'bin/memory-diagnostics-dumper.js')
/** The line of each leak's allocating call in the child (its `function` line + 1). */
const childLines = readFileSync(CHILD, 'utf8').split('\n')
const lineOf = (fn: string) => childLines.findIndex((l) => l.startsWith(`function ${fn}(`)) + 1
const LEAKS: Record<string, { fn: string; line: number }> = {
  measure: { fn: 'renderFrame', line: lineOf('renderFrame') },
  map: { fn: 'cacheResponse', line: lineOf('cacheResponse') },
  closures: { fn: 'subscribe', line: lineOf('subscribe') },
}

function runChild(dir: string, leak: string, secret: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [CHILD, dir, leak, secret], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d) => (stdout += d))
    c.stderr.on('data', (d) => (stderr += d))
    c.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Runs `n` tasks, `width` at a time. */
for (const impl of implementations) {
  describe(`allocation profiles (${impl.name})`, () => {
    for (const [leak, { fn, line }] of Object.entries(LEAKS)) {
      it(`${leak}: in at least 9 of 10 runs inspect names the leaking line as the top growing site, the process exits cleanly, and no value is in any file`, async () => {
        expect(line).toBeGreaterThan(0)
        const runs = await pool(10, 3, async (i) => {
          const dir = join(scratch(), 'd')
          const secret = `SECRET${process.pid}X${i}Q`
          const r = await runChild(dir, leak, secret, impl.env)
          expect(r.code, r.stderr).toBe(0)
          expect(r.stderr).not.toMatch(/Waiting for the debugger/)
          expect(r.stdout, r.stderr).toMatch(/hostEval/)
          const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!)
          expect(out.hostEval).toBe(42)
          expect(out.second.allocationProfile).toMatchObject({ status: 'taken' })
          for (const f of readdirSync(dir)) expect(readFileSync(join(dir, f), 'utf8').includes(secret), `${f} holds a value`).toBe(false)
          const doc = readDump(out.second.filePath)
          expect(doc.allocationProfile.status).toBe('taken')
          const j = runNode(CLI, ['inspect', dir, '--json'])
          expect(j.status, j.stderr).toBe(0)
          const top = JSON.parse(j.stdout).processes[0].verdict.growth.bySite?.groups?.[0]
          const text = runNode(CLI, ['inspect', dir]).stdout
          return { named: top?.blame?.function === fn && top?.blame?.line === line, top, text }
        })
        const named = runs.filter((r) => r.named).length
        expect(named, JSON.stringify(runs.map((r) => r.top?.blame))).toBeGreaterThanOrEqual(9)
        const shown = runs.find((r) => r.named)!.text
        expect(shown).toMatch(
          new RegExp(
            `Most likely growth: JS heap .*; by allocation site .*← ${fn} \\(alloc-leak\\.mjs:${line}\\)|Most likely growth: JS heap .*; by allocation site .*% ${fn} \\(alloc-leak\\.mjs:${line}\\)`,
          ),
        )
        if (leak === 'measure') expect(shown).toMatch(/PerformanceMeasure|PerformanceMark|renderFrame/)
        // Where to look next names the code, not the option that would have named it.
        expect(shown).toMatch(new RegExp(`Look next at: the code that grew, by allocation site: ${fn} \\(alloc-leak\\.mjs:${line}\\)`))
        expect(shown).not.toMatch(/Look next at: JS objects are kept alive/)
      }, 120_000)
    }

    it('a JS heap leak without allocation profiles: where to look next names allocationProfile first, then heap snapshots', () => {
      const dir = join(scratch(), 'd')
      // A 192 MiB old space: its dumps at 60% and 80% are 38 MiB of heap apart, twice the growth
      // the rule needs (16 MiB) even where only the two dumps measure it (the JS fallback).
      const r = runNode(join(root, '__test__/children/bundle-child.mjs'), [dir, 'v8'], { env: impl.env, nodeArgs: ['--max-old-space-size=192'] })
      expect(r.stderr).toMatch(/JavaScript heap out of memory|Reached heap limit/)
      const text = runNode(CLI, ['inspect', dir]).stdout
      expect(text).toMatch(/Most likely growth: JS heap/)
      expect(text).toMatch(
        /Look next at: JS objects are kept alive: the allocation sites name the code that allocated them \(options\.allocationProfile, in allocationProfile\.sites of every dump; about 1 MiB of RSS; docs\/allocation-profiles\.md\); two heap snapshots/,
      )
      // The documents carry the same advice (the contract's, on both implementations).
      for (const f of readdirSync(dir).filter((n) => n.startsWith('memory-'))) {
        const growth = readDump(join(dir, f)).analysis.growth
        if (growth?.kind === 'jsHeap') expect(growth.advice).toMatch(/^JS objects are kept alive: the allocation sites name the code/)
      }
    })

    it('idle control: no growing site is named', async () => {
      const dir = join(scratch(), 'd')
      const r = await runChild(dir, 'idle', 'SECRETIDLE', impl.env)
      expect(r.code, r.stderr).toBe(0)
      const j = runNode(CLI, ['inspect', dir, '--json'])
      const g = JSON.parse(j.stdout).processes[0].verdict.growth
      expect(g.kind).toBeNull()
      expect(runNode(CLI, ['inspect', dir]).stdout).not.toMatch(/by allocation site/)
    })

    it('validates options.allocationProfile with the same messages', () => {
      const dir = join(scratch(), 'd')
      const make = (allocationProfile: unknown) => () => new impl.MemoryDiagnosticsDumper({ directory: dir, allocationProfile } as any)
      expect(make(5)).toThrow('options.allocationProfile: expected true, false or an object { samplingIntervalBytes?, maxSites? }, got 5')
      expect(make('yes')).toThrow('options.allocationProfile: expected true, false or an object { samplingIntervalBytes?, maxSites? }, got "yes"')
      expect(make({ samplingIntervalBytes: 10 })).toThrow('options.allocationProfile.samplingIntervalBytes: expected an integer from 1024 to 67108864, got 10')
      expect(make({ maxSites: 0 })).toThrow('options.allocationProfile.maxSites: expected an integer from 1 to 50, got 0')
      expect(make({ maxSite: 3 })).toThrow(/^options\.allocationProfile\.maxSite: .*did you mean options\.allocationProfile\.maxSites\?/)
      for (const ok of [true, false, null, {}, { samplingIntervalBytes: 4096, maxSites: 5 }]) {
        const d = make(ok)()
        d.close()
      }
    })
  })
}
