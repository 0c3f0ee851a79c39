import { spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { decodePng, dumpFiles, implementations, input, readDump, root, runNode, scratch, validates } from './helpers.js'

const cli = join(root, 'bin', 'memory-diagnostics-dumper.js')
const inspect = (...args: string[]) => spawnSync(process.execPath, [cli, 'inspect', ...args], { encoding: 'utf8' })
const { validate } = createRequire(import.meta.url)(join(root, 'inspect.js'))
const schema = JSON.parse(readFileSync(join(root, 'docs', 'dump.schema.json'), 'utf8'))

/** A crashed session: the V8-OOM demo child, dumps and recorder file. */
function crashedSession(): string {
  const dir = join(scratch(), 'diag')
  spawnSync(process.execPath, ['--max-old-space-size=128', join(root, 'demo/child.mjs'), dir], { encoding: 'utf8', timeout: 60_000 })
  return dir
}

describe('memory-diagnostics-dumper inspect', () => {
  it('summarises a crashed session: the dumps, the verdict from the recorder, and the kind of growth', () => {
    const dir = crashedSession()
    const r = inspect(dir)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^Session demosess$/m)
    expect(r.stdout).toMatch(/#1 hard .* MiB \/ 176 MiB/)
    expect(r.stdout).toMatch(/#2 critical/)
    expect(r.stdout).toMatch(/Verdict: crashed at \S+ \(the recorder has no exit record/)
    expect(r.stdout).toMatch(/Most likely growth: JS heap \(heap used \d+ MiB → \d+ MiB/)
    const j = JSON.parse(inspect(dir, '--json').stdout)
    expect(j.problems).toEqual([])
    expect(j.sessions[0].verdict).toMatchObject({ outcome: 'crashed', growth: { kind: 'JS heap' } })
    expect(j.sessions[0].dumps.map((d: any) => [d.trigger, d.complete, d.valid])).toEqual([
      ['hard', true, true],
      ['critical', true, true],
    ])
  })

  it('tells a clean exit from the recorder exit record', () => {
    const dir = join(scratch(), 'diag')
    runNode(join(root, '__test__/children/recorder-exit.mjs'), [dir, 'close'])
    const j = JSON.parse(inspect(dir, '--json').stdout)
    expect(j.sessions[0].verdict.outcome).toBe('clean exit')
  })

  it('reads what the kill-anywhere harness leaves behind (SIGKILL mid-dump)', async () => {
    const dir = join(scratch(), 'diag')
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve) => {
        const c = spawn(process.execPath, [join(root, '__test__/children/dump-loop.mjs'), dir], { stdio: ['ignore', 'pipe', 'ignore'] })
        c.stdout!.once('data', () => setTimeout(() => c.kill('SIGKILL'), 15 + i * 5))
        c.on('exit', () => resolve())
      })
    }
    const r = inspect(dir, '--json')
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.sessions.length).toBe(5)
    for (const s of j.sessions) expect(s.verdict.outcome).toBe('crashed')
  })

  it('draws a timeline SVG that renders with the series and the dumps on it (headless Chromium)', () => {
    // Fixture: a V8-OOM demo run on a machine without a cgroup limit, so the effective limit is
    // physical RAM (23.5 GiB), far above the data. The picture must not depend on this machine.
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    const fixture = join(root, 'tests/fixtures/inspect/v8-oom-no-cgroup-limit')
    for (const f of readdirSync(fixture)) copyFileSync(join(fixture, f), join(dir, f))
    const svgFile = join(scratch(), 'timeline.svg')
    const htmlFile = join(scratch(), 'timeline.html')
    expect(inspect(dir, '--svg', svgFile, '--html', htmlFile).status).toBe(0)
    const svg = readFileSync(svgFile, 'utf8')
    expect(svg).toMatch(/<polyline class="series" data-series="rssBytes"/)
    expect(svg).toMatch(/<polyline class="series" data-series="heapUsedBytes"/)
    expect(svg.match(/<line class="dump"/g)).toHaveLength(2)
    // The y-axis follows the data with round ticks; the off-scale limit is named in the legend.
    const ticks = [...svg.matchAll(/text-anchor="end">(\d+) MiB</g)].map((m) => Number(m[1]))
    expect(ticks).toEqual([0, 50, 100, 150, 200, 250])
    expect(svg).toMatch(/effective memory limit 23\.5 GiB, off scale/)
    expect(svg).not.toMatch(/data-series="limit"/)
    // Both series visibly rise: last point well above the first (SVG y grows downwards).
    for (const key of ['rssBytes', 'heapUsedBytes']) {
      const pts = svg.match(new RegExp(`data-series="${key}"[^>]* points="([^"]+)"`))![1].split(' ').map((p) => Number(p.split(',')[1]))
      expect(pts[0] - pts.at(-1)!, key).toBeGreaterThan(100)
    }
    expect(readFileSync(htmlFile, 'utf8')).toContain('<svg')
    const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((c) => spawnSync(c, ['--version']).status === 0)
    if (!chromium) {
      console.log('skipped rendering the timeline: no headless Chromium (apt-get install chromium)')
      return
    }
    const png = join(scratch(), 'timeline.png')
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
    const r = spawnSync(chromium, [...flags, `--user-data-dir=${scratch()}`, `--screenshot=${png}`, '--window-size=960,420', `file://${svgFile}`], { encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    const img = decodePng(readFileSync(png))
    const count = (rgb: [number, number, number]) => {
      let n = 0
      for (let y = 0; y < img.height; y++) for (let x = 0; x < img.width; x++) {
        const p = img.pixel(x, y)
        if (Math.abs(p[0] - rgb[0]) < 24 && Math.abs(p[1] - rgb[1]) < 24 && Math.abs(p[2] - rgb[2]) < 24) n++
      }
      return n
    }
    expect(count([0xd6, 0x27, 0x28])).toBeGreaterThan(150) // RSS, red
    expect(count([0x1f, 0x77, 0xb4])).toBeGreaterThan(150) // heap used, blue
    expect(count([0xff, 0x7f, 0x0e])).toBeGreaterThan(150) // the two dump markers, orange
    expect(count([0xff, 0xff, 0xff])).toBeGreaterThan(img.width * img.height * 0.5) // a white page
  })

  it('gives clear errors and documented exit codes for bad input', () => {
    const dir = join(scratch(), 'mixed')
    mkdirSync(dir)
    const good = crashedSession()
    for (const f of readdirSync(good)) copyFileSync(join(good, f), join(dir, f))
    const valid = dumpFiles(dir)[0]
    const text = readFileSync(valid, 'utf8')
    writeFileSync(join(dir, 'memory-trunc-2026-01-01T00-00-00-000Z-1.json'), text.slice(0, text.length / 2))
    writeFileSync(join(dir, 'memory-other-2026-01-01T00-00-00-000Z-1.json'), '{"hello": "world"}')
    writeFileSync(join(dir, 'memory-newer-2026-01-01T00-00-00-000Z-1.json'), JSON.stringify({ ...JSON.parse(text), schemaVersion: 2 }))
    mkdirSync(join(dir, 'memory-adir-2026-01-01T00-00-00-000Z-1.json'))
    const r = inspect(dir)
    expect(r.status).toBe(1)
    expect(r.stdout).toMatch(/memory-trunc-.*: not complete JSON \(truncated or corrupt\)/)
    expect(r.stdout).toMatch(/memory-other-.*: JSON, but not a memory-diagnostics-dumper dump/)
    expect(r.stdout).toMatch(/memory-newer-.*: schemaVersion 2 is newer than this reader \(1\); upgrade/)
    expect(r.stdout).toMatch(/memory-adir-.*: cannot read: it is a directory/)
    expect(r.stdout).toMatch(/Session demosess/) // the valid files are still summarised
    const empty = join(scratch(), 'empty')
    mkdirSync(empty)
    const e = inspect(empty)
    expect(e.status).toBe(2)
    expect(e.stderr).toMatch(/no dump or recorder files in this directory/)
    expect(inspect(join(scratch(), 'missing')).status).toBe(2)
    expect(spawnSync(process.execPath, [cli], { encoding: 'utf8' }).status).toBe(2)
    expect(spawnSync(process.execPath, [cli, 'inspect', dir, '--bogus'], { encoding: 'utf8' }).stderr).toMatch(/unknown option: --bogus/)
    expect(spawnSync(process.execPath, [cli, '--help'], { encoding: 'utf8' }).stdout).toMatch(/exit codes: 0/)
  })

  it.each(implementations)('its schema check agrees with a full JSON Schema validator on $name documents', async ({ MemoryDiagnosticsDumper }) => {
    const d = new MemoryDiagnosticsDumper({ directory: join(scratch(), 'd'), recorder: { intervalMs: 20 } })
    await new Promise((r) => setTimeout(r, 60))
    const doc = readDump((await d.dump('hard', input({ session: { a: 1 } })))!.filePath)
    d.close()
    const mutants = [
      doc,
      { ...doc, extra: 1 },
      { ...doc, trigger: 'bogus' },
      { ...doc, collectionComplete: false },
      { ...doc, sessionId: '../x' },
      { ...doc, session: { a: { b: 1 } } },
      { ...doc, atTrigger: { ...doc.atTrigger, memoryUsage: { ...doc.atTrigger.memoryUsage, rss: -1 } } },
      { ...doc, process: { ...doc.process, status: 'x' } },
      { ...doc, history: [{ type: 'sample' }] },
    ]
    for (const m of mutants) expect(validate(schema, m).length === 0).toBe(validates(m))
  })
})
