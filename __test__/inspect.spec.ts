import { spawn, spawnSync } from 'node:child_process'
import { closeSync, copyFileSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { decodePng, dumpFiles, implementations, input, readDump, root, runNode, scratch, validates, waitFor, written } from './helpers.js'

const cli = join(root, 'bin', 'memory-diagnostics-dumper.js')
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 })
const inspect = (...args: string[]) => run('inspect', ...args)
const { validate } = createRequire(import.meta.url)(join(root, 'lib', 'cli', 'inspect', 'command.js'))
const schema = JSON.parse(readFileSync(join(root, 'lib', 'dump.schema.json'), 'utf8'))
const MIB = 2 ** 20

const fixtures = join(root, 'tests/fixtures/inspect')
/** A copy of a fixture trail (a real demo run) in a fresh directory. */
function fixture(name: string, into = join(scratch(), 'diag')): string {
  mkdirSync(into, { recursive: true })
  for (const f of readdirSync(join(fixtures, name))) copyFileSync(join(fixtures, name, f), join(into, f))
  return into
}
/** A real dump document (the V8-OOM fixture's first), to derive hostile and synthetic ones. */
const realDump = () => JSON.parse(readFileSync(join(fixtures, 'v8-oom-no-cgroup-limit', 'memory-demosess-2026-11-26T18-53-00-485Z-1.json'), 'utf8'))
const jsonl = (records: object[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n'

/** A crashed session: the V8-OOM demo child, dumps and recorder file. */
function crashedSession(): string {
  const dir = join(scratch(), 'diag')
  spawnSync(process.execPath, ['--max-old-space-size=128', join(root, 'demo/child.mjs'), dir], { encoding: 'utf8', timeout: 60_000 })
  return dir
}

// ---- headless Chromium: pictures, layout and XML well-formedness ------------------------------

const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((c) => spawnSync(c, ['--version']).status === 0)
const chromeFlags = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
function chrome(args: string[]) {
  const r = spawnSync(chromium!, [...chromeFlags, `--user-data-dir=${scratch('chrome')}`, ...args], { encoding: 'utf8', timeout: 60_000 })
  expect(r.status, r.stderr).toBe(0)
  return r.stdout
}
const svgSize = (svg: string) =>
  svg
    .match(/<svg[^>]* width="(\d+)" height="(\d+)"/)!
    .slice(1)
    .map(Number) as [number, number]
/** Parses the file as Chromium does: an ill-formed SVG gets a parsererror element. */
function wellFormed(file: string): boolean {
  return !chrome(['--dump-dom', `file://${file}`]).includes('parsererror')
}
/** Lays the page out at `width` px and returns what `script` computed (as JSON). */
function measure(page: string, width: number, script: string): any {
  const file = join(scratch(), 'measure.html')
  writeFileSync(
    file,
    page.replace(
      '</body>',
      `<script>{const r=(()=>{${script}})();const p=document.createElement('pre');p.id='measured';p.textContent=JSON.stringify(r);document.body.append(p)}</script></body>`,
    ),
  )
  const dom = chrome([`--window-size=${width},900`, '--dump-dom', `file://${file}`])
  const m = dom.match(/<pre id="measured">(.*?)<\/pre>/s)
  expect(m, dom.slice(0, 500)).toBeTruthy()
  return JSON.parse(
    m![1]
      .replace(/&quot;/g, '"')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&'),
  )
}

describe('memory-diagnostics-dumper inspect', () => {
  it('summarises a crashed process: the dumps, the verdict from the recorder, and the kind of growth', () => {
    const dir = crashedSession()
    const r = inspect(dir)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^Session demosess, process \d+, started /m)
    // The heap limit V8 reports for --max-old-space-size=128 depends on the Node version
    // (176 MiB on Node 20 and 22, 320 MiB on Node 24): ask this Node.
    const limit = spawnSync(process.execPath, ['--max-old-space-size=128', '-p', "Math.round(require('v8').getHeapStatistics().heap_size_limit / 2 ** 20)"], {
      encoding: 'utf8',
    })
    expect(r.stdout).toMatch(new RegExp(`#1 hard .* MiB / ${limit.stdout.trim()} MiB`))
    expect(r.stdout).toMatch(/#2 critical/)
    // Whether the recorder's last sample (every 100 ms) caught the heap near its limit depends
    // on the machine's load, so the cause is checked on a recorded trail below; here it may
    // only be missing, never wrong.
    expect(r.stdout).toMatch(/Verdict: crashed at [^,\s]+(, most likely V8 heap out of memory: .*)? \(the recorder has no exit record/)
    expect(r.stdout).toMatch(/Most likely growth: JS heap \(\+\d+ MiB: V8 heap resident \d+ MiB → \d+ MiB, heap used \+\d+ MiB/)
    const j = JSON.parse(inspect(dir, '--json').stdout)
    expect(j.problems).toEqual([])
    expect(j.processes).toHaveLength(1)
    expect(j.processes[0].verdict).toMatchObject({ outcome: 'crashed', growth: { kind: 'JS heap' } })
    expect([null, 'v8HeapOom']).toContain(j.processes[0].verdict.cause?.kind ?? null)
    expect(j.processes[0].dumps.map((d: any) => [d.trigger, d.complete, d.valid])).toEqual([
      ['hard', true, true],
      ['critical', true, true],
    ])
  })

  it('names V8 heap out of memory as the likely cause when the last sample was near the heap limit (a recorded trail)', () => {
    const r = inspect(fixture('v8-oom-no-cgroup-limit'))
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(
      /Verdict: crashed at \S+, most likely V8 heap out of memory: JS heap used 133 MiB of its 176 MiB limit at the last sample \(the recorder has no exit record/,
    )
    const j = JSON.parse(inspect(fixture('v8-oom-no-cgroup-limit'), '--json').stdout)
    expect(j.processes[0].verdict).toMatchObject({ outcome: 'crashed', cause: { kind: 'v8HeapOom', confirmed: false }, growth: { kind: 'JS heap' } })
  })

  it.each(implementations)('shows the host samples a $name dump recorded', async ({ MemoryDiagnosticsDumper }) => {
    const dir = join(scratch(), 'diag')
    const d = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'samples' })
    const samples = [1, 2, 3].map((i) => ({ t: i * 1000, heapUsed: i * 10 }))
    await d.dump('hard', { samples })
    const r = inspect(dir)
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^ {2}#1 3 host samples: t 1000 → 3000, heapUsed 10 → 30$/m)
    expect(JSON.parse(inspect(dir, '--json').stdout).processes[0].dumps[0].hostSamples).toBe('3 host samples: t 1000 → 3000, heapUsed 10 → 30')
  })

  it('tells a clean exit from the recorder exit record', () => {
    const dir = join(scratch(), 'diag')
    runNode(join(root, '__test__/children/recorder-exit.mjs'), [dir, 'close'])
    const j = JSON.parse(inspect(dir, '--json').stdout)
    expect(j.processes[0].verdict.outcome).toBe('clean exit')
  })

  it('gives a verdict per process: a self-SIGKILL then a clean exit with the same session id reports the kill', () => {
    const dir = join(scratch(), 'diag')
    const killed = runNode(join(root, '__test__/children/same-session.mjs'), [dir, 'kill'])
    expect(killed.signal).toBe('SIGKILL')
    expect(runNode(join(root, '__test__/children/same-session.mjs'), [dir, 'close']).status).toBe(0)
    const r = inspect(dir, '--json')
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.processes.map((p: any) => [p.sessionIds, p.verdict.outcome, p.dumps.map((d: any) => d.dumpNumber)])).toEqual([
      [['same'], 'crashed', [1]],
      [['same'], 'clean exit', [1]],
    ])
    expect(j.processes[0].pid).not.toBe(j.processes[1].pid)
    const t = inspect(dir).stdout
    expect(t.match(/Verdict: crashed/g)).toHaveLength(1)
    expect(t.match(/Verdict: clean exit/g)).toHaveLength(1)
  })

  it('groups by pid and process start time, and a session reset is not a death (both file formats)', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    const T = Date.parse('2026-11-26T10:00:00.000Z')
    const start = (pid: number, at: number, sessionId: string, processStartMs?: number) => ({
      type: 'start',
      t: new Date(at).toISOString(),
      epochMs: at,
      pid,
      sessionId,
      intervalMs: 100,
      schemaVersion: 1,
      ...(processStartMs !== undefined && { processStartMs }),
    })
    const samples = (from: number, n: number, rss = 50 * MIB) =>
      Array.from({ length: n }, (_, i) => ({
        type: 'sample',
        t: new Date(from + i * 100).toISOString(),
        epochMs: from + i * 100,
        rssBytes: rss + i * MIB,
        heapUsedBytes: 10 * MIB,
        heapTotalBytes: 20 * MIB,
        heapLimitBytes: 100 * MIB,
      }))
    const exit = (at: number, reason: string) => ({ type: 'exit', t: new Date(at).toISOString(), epochMs: at, reason })
    // One pid, two processes (pid reuse): the first dies, the second closes.
    writeFileSync(join(dir, 'recorder-same-100-aaaa.jsonl'), jsonl([start(100, T, 'same', T - 50), ...samples(T, 5)]))
    writeFileSync(
      join(dir, 'recorder-same-100-bbbb.jsonl'),
      jsonl([start(100, T + 60_000, 'same', T + 59_950), ...samples(T + 60_000, 5), exit(T + 60_500, 'close')]),
    )
    const dump = (pid: number, at: number, processStartMs: number | undefined, n: number) => {
      const d = realDump()
      Object.assign(d, { pid, timestamp: new Date(at).toISOString(), sessionId: 'same', dumpNumber: n })
      if (processStartMs !== undefined) d.processStartMs = processStartMs
      return JSON.stringify(d)
    }
    writeFileSync(join(dir, `memory-same-${new Date(T + 200).toISOString().replace(/[:.]/g, '-')}-1.json`), dump(100, T + 200, T - 50, 1))
    writeFileSync(join(dir, `memory-same-${new Date(T + 60_200).toISOString().replace(/[:.]/g, '-')}-1-2.json`), dump(100, T + 60_200, T + 59_950, 1))
    // A session reset, new format: the exit record of reason sessionReset, then the next session's file.
    writeFileSync(
      join(dir, 'recorder-aaaa-200-x.jsonl'),
      jsonl([start(200, T + 120_000, 'aaaa', T + 119_000), ...samples(T + 120_000, 3), exit(T + 120_300, 'sessionReset')]),
    )
    writeFileSync(
      join(dir, 'recorder-bbbb-200-y.jsonl'),
      jsonl([start(200, T + 120_400, 'bbbb', T + 119_000), ...samples(T + 120_400, 3), exit(T + 120_800, 'close')]),
    )
    // A session reset, old format (no processStartMs, no reset record): the next file continues within one interval.
    writeFileSync(join(dir, 'recorder-cccc.jsonl'), jsonl([start(300, T + 180_000, 'cccc'), ...samples(T + 180_000, 3)]))
    writeFileSync(join(dir, 'recorder-dddd.jsonl'), jsonl([start(300, T + 180_300, 'dddd'), ...samples(T + 180_300, 3), exit(T + 180_700, 'close')]))
    // Old-format rotation: the .jsonl continues its .jsonl.1 without a new start record.
    writeFileSync(join(dir, 'recorder-eeee.jsonl.1'), jsonl([start(400, T + 240_000, 'eeee'), ...samples(T + 240_000, 4)]))
    writeFileSync(join(dir, 'recorder-eeee.jsonl'), jsonl(samples(T + 240_400, 4, 80 * MIB)))
    // A dumper garbage-collected (or its worker ended): its recorder stopped, the process went on.
    writeFileSync(
      join(dir, 'recorder-ffff-500-z.jsonl'),
      jsonl([start(500, T + 300_000, 'ffff', T + 299_000), ...samples(T + 300_000, 3), exit(T + 300_300, 'released')]),
    )
    const r = inspect(dir, '--json')
    expect(r.status, r.stdout + r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.processes.map((p: any) => [p.pid, p.sessionIds.join('+'), p.verdict.outcome, p.dumps.length, p.recorder.samples])).toEqual([
      [100, 'same', 'crashed', 1, 5],
      [100, 'same', 'clean exit', 1, 5],
      [200, 'aaaa+bbbb', 'clean exit', 0, 6],
      [300, 'cccc+dddd', 'clean exit', 0, 6],
      [400, 'eeee', 'crashed', 0, 8],
      [500, 'ffff', 'unknown', 0, 3],
    ])
    // Before: a released dumper read as a clean exit of its process.
    expect(j.processes[5].verdict.evidence).toMatch(/released.*how the process ended afterwards is unknown/)
    expect(j.processes[0].processStart).toBe(new Date(T - 50).toISOString())
    // Without processStartMs a dump joins its process by pid and uptime (timestamp minus uptime).
    const old = fixture('v8-oom-no-cgroup-limit')
    const j2 = JSON.parse(inspect(old, '--json').stdout)
    expect(j2.processes).toHaveLength(1)
    expect(j2.processes[0]).toMatchObject({ pid: 2919, processStartEstimated: true })
    expect(j2.processes[0].dumps).toHaveLength(2)
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
    expect(j.processes.length).toBe(5)
    for (const p of j.processes) expect(p.verdict.outcome).toBe('crashed')
  })

  it('claims growth only from two points, from 16 MiB, never for file-backed memory or a fall', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    const T = Date.parse('2026-11-26T10:00:00.000Z')
    const idle = (n: number, rss: number, heapUsed: number) => {
      const d = realDump()
      d.timestamp = new Date(T + n * 1000).toISOString()
      d.dumpNumber = n
      d.atTrigger.v8HeapStats.usedHeapSize = heapUsed
      d.atTrigger.memoryUsage.heapTotal = 6 * MIB
      d.process.uptimeSeconds = 5 + n
      // An idle Node process: most of its RSS is its own mapped binary (file-backed).
      Object.assign(d.process.status, { vmRss: rss, rssFile: 40 * MIB, rssAnon: rss - 40 * MIB })
      delete d.history
      return d
    }
    const write = (d: any) => writeFileSync(join(dir, `memory-demosess-${d.timestamp.replace(/[:.]/g, '-')}-${d.dumpNumber}.json`), JSON.stringify(d))
    write(idle(1, 44 * MIB, 4 * MIB))
    let j = JSON.parse(inspect(dir, '--json').stdout)
    expect(j.processes[0].verdict.growth).toMatchObject({ kind: null })
    expect(j.processes[0].verdict.growth.evidence).toMatch(/one dump and no recorder samples: growth needs two points/)
    let t = inspect(dir).stdout
    expect(t).not.toMatch(/native|grew/)
    // A second dump: 1 MiB more RSS and less heap in use (its resident size unchanged). Nothing grew.
    write(idle(2, 45 * MIB, 2 * MIB))
    j = JSON.parse(inspect(dir, '--json').stdout)
    expect(j.processes[0].verdict.growth).toMatchObject({ kind: null })
    t = inspect(dir).stdout
    expect(t).toMatch(
      /Growth: none found \(nothing grew by 16 MiB or more: JS heap \+0 MiB, ArrayBuffers and external \+0 MiB, native \+1 MiB, file-backed \+0 MiB, shared memory \+0 MiB, child processes \+0 MiB; dump #1 → dump #2, 1\.0 s\)/,
    )
    expect(t).not.toMatch(/Look next at/)
    expect(t).not.toMatch(/Most likely growth/)
    // Anonymous memory grows by 101 MiB from the first dump: native, without the file-backed part.
    write(idle(3, 145 * MIB, 2 * MIB))
    j = JSON.parse(inspect(dir, '--json').stdout)
    expect(j.processes[0].verdict.growth).toMatchObject({ kind: 'native', bytes: 101 * MIB })
    expect(j.processes[0].verdict.growth.evidence).toMatch(/anonymous memory \+101 MiB while the V8 heap changed \+0 MiB/)
  })

  it('draws a timeline per process that renders with the series, the limits, the dumps and the death (headless Chromium)', () => {
    // Fixtures: a V8-OOM demo run on a machine without a cgroup limit (the effective limit is
    // physical RAM, 23.5 GiB, far above the data), and a kernel-OOM demo run in a 256 MiB
    // memory cgroup. The pictures must not depend on this machine.
    const cases: { name: string; rising: string[]; limit: string; death: string; colors: Record<string, number> }[] = [
      {
        name: 'v8-oom-no-cgroup-limit',
        rising: ['rssBytes', 'heapUsedBytes'],
        limit: 'heapLimitBytes',
        death: 'most likely V8 heap out of memory',
        colors: { red: 150, blue: 150 },
      },
      {
        name: 'kernel-oom-cgroup-limit',
        rising: ['rssBytes', 'cgroupUsageBytes'],
        limit: 'cgroupLimitBytes',
        death: 'most likely kernel OOM kill',
        colors: { red: 150, brown: 150 },
      },
    ]
    for (const c of cases) {
      const dir = fixture(c.name)
      const svgFile = join(scratch(), `${c.name}.svg`)
      const htmlFile = join(scratch(), `${c.name}.html`)
      const r = inspect(dir, '--svg', svgFile, '--html', htmlFile)
      expect(r.status, r.stderr).toBe(0)
      const svg = readFileSync(svgFile, 'utf8')
      for (const key of c.rising) expect(svg).toMatch(new RegExp(`<polyline class="series" data-series="${key}"`))
      expect(svg.match(/<line class="dump"/g)).toHaveLength(2)
      expect(svg.match(/<line class="death"/g)).toHaveLength(1)
      expect(svg).toContain(`died (${c.death})`)
      // The limit that applies to a drawn series is a line; the V8 heap limit is marked.
      expect(svg).toMatch(new RegExp(`data-series="${c.limit}"[^>]*stroke-dasharray`))
      // Both series visibly rise: last point well above the first (SVG y grows downwards).
      for (const key of c.rising) {
        const pts = svg
          .match(new RegExp(`data-series="${key}"[^>]* points="([^"]+)"`))![1]
          .split(' ')
          .map((p) => Number(p.split(',')[1]))
        expect(pts[0] - pts.at(-1)!, key).toBeGreaterThan(90)
      }
      // Round ticks; readable UTC clock times on the x-axis.
      const ticks = [...svg.matchAll(/text-anchor="end">(\d+) MiB</g)].map((m) => Number(m[1]))
      expect(ticks[0]).toBe(0)
      for (const t of ticks) expect(t % 50).toBe(0)
      const times = [...svg.matchAll(/<text class="time"[^>]*>([^<]+)</g)].map((m) => m[1])
      expect(times.length).toBeGreaterThanOrEqual(3)
      for (const t of times) expect(t).toMatch(/^\d\d:\d\d:\d\d(\.\d)?$/)
      if (c.name === 'v8-oom-no-cgroup-limit') {
        expect(ticks).toEqual([0, 50, 100, 150, 200, 250])
        expect(svg).toMatch(/no cgroup limit; physical memory 23\.5 GiB, off scale/)
        expect(svg).not.toMatch(/data-series="cgroup/) // the machine's cgroup usage has no limit to be compared with
      } else {
        // The cgroup limit applies to the cgroup's usage, which is drawn; the V8 heap limit is far off.
        expect(svg).toMatch(/RSS \(not what the cgroup limit counts\)/)
        expect(svg).toMatch(/V8 heap limit: 259 MiB, far above JS heap used/)
        expect(svg).not.toMatch(/data-series="heapLimitBytes"/)
      }
      expect(readFileSync(htmlFile, 'utf8')).toContain('<svg')
      if (!chromium) {
        console.log('skipped rendering the timeline: no headless Chromium (apt-get install chromium)')
        return
      }
      expect(wellFormed(svgFile)).toBe(true)
      // Nothing clipped: every element's box lies inside the picture.
      const [w, h] = svgSize(svg)
      const clipped = measure(
        `<!doctype html><html><body style="margin:0">${svg}</body></html>`,
        w,
        `const s=document.querySelector('svg');const out=[];for(const e of s.querySelectorAll('text,line,polyline,circle')){const b=e.getBBox();if(b.x<-0.5||b.y<-0.5||b.x+b.width>${w}+0.5||b.y+b.height>${h}+0.5)out.push(e.outerHTML.slice(0,120))}return out`,
      )
      expect(clipped).toEqual([])
      const png = join(scratch(), `${c.name}.png`)
      chrome([`--screenshot=${png}`, `--window-size=${w},${h}`, `file://${svgFile}`])
      const img = decodePng(readFileSync(png))
      const count = (rgb: [number, number, number]) => {
        let n = 0
        for (let y = 0; y < img.height; y++)
          for (let x = 0; x < img.width; x++) {
            const p = img.pixel(x, y)
            if (Math.abs(p[0] - rgb[0]) < 24 && Math.abs(p[1] - rgb[1]) < 24 && Math.abs(p[2] - rgb[2]) < 24) n++
          }
        return n
      }
      const rgb: Record<string, [number, number, number]> = { red: [0xd6, 0x27, 0x28], blue: [0x1f, 0x77, 0xb4], brown: [0x8c, 0x56, 0x4b] }
      // RSS red; JS heap used blue; cgroup usage brown.
      for (const [color, min] of Object.entries(c.colors)) expect(count(rgb[color]), color).toBeGreaterThan(min)
      expect(count([0xff, 0x7f, 0x0e])).toBeGreaterThan(150) // the two dump markers, orange
      expect(count([0, 0, 0])).toBeGreaterThan(400) // the death marker, black
      expect(count([0xff, 0xff, 0xff])).toBeGreaterThan(img.width * img.height * 0.5) // a white page
    }
  })

  it('never draws two processes as one series, and the HTML verdict wraps at 1200 px', () => {
    const dir = fixture('v8-oom-no-cgroup-limit')
    fixture('kernel-oom-cgroup-limit', dir)
    const svgFile = join(scratch(), 't.svg')
    const htmlFile = join(scratch(), 't.html')
    expect(inspect(dir, '--svg', svgFile, '--html', htmlFile).status).toBe(0)
    const svg = readFileSync(svgFile, 'utf8')
    expect(svg.match(/data-series="rssBytes"/g)).toHaveLength(2)
    expect(svg.match(/<line class="death"/g)).toHaveLength(2)
    const html = readFileSync(htmlFile, 'utf8')
    expect(html.match(/class="verdict"/g)!.length).toBeGreaterThanOrEqual(2)
    if (!chromium) return
    const m = measure(
      html,
      1200,
      `return {scroll: document.documentElement.scrollWidth, widest: Math.max(...[...document.querySelectorAll('p.verdict')].map((p) => p.getBoundingClientRect().right))}`,
    )
    expect(m.scroll).toBeLessThanOrEqual(1200)
    expect(m.widest).toBeLessThanOrEqual(1200)
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
    expect(run().status).toBe(2)
    const bogus = inspect(dir, '--bogus')
    expect([bogus.status, bogus.stderr]).toEqual([2, expect.stringMatching(/unknown option: --bogus/)])
    const unwritable = inspect(dir, '--svg', join(scratch(), 'no', 'such', 'dir.svg'))
    expect([unwritable.status, unwritable.stderr]).toEqual([2, expect.stringMatching(/cannot write .*dir\.svg: no such file or directory/)])
  })

  it('accepts unknown fields of the same major version; names every unreadable file and summarises the rest', () => {
    const dir = fixture('v8-oom-no-cgroup-limit')
    const named = (n: string) => join(dir, `memory-${n}-2026-11-26T18-53-01-000Z-1.json`)
    // A newer writer's document: one field (and one nested field) this reader does not know.
    const newer = realDump()
    Object.assign(newer, { sessionId: 'newer', pid: 77, processStartMs: 1795719170000, somethingNew: { a: 1 } })
    newer.atTrigger.memoryUsage.somethingNewer = 5
    writeFileSync(named('newer'), JSON.stringify(newer))
    writeFileSync(named('nullat'), '{"schemaVersion":1,"atTrigger":null}')
    writeFileSync(named('emptyobj'), '{}')
    writeFileSync(named('null'), 'null')
    const r = inspect(dir)
    expect(r.status, r.stderr).toBe(1)
    expect(r.stdout).toMatch(/^Session newer, process 77, started 2026-11-26 18:52:50\.000 UTC$/m)
    expect(r.stdout).not.toMatch(/memory-newer-.*unexpected property/)
    expect(r.stdout).toMatch(/memory-nullat-.*: does not match schema version 1: \/: missing trigger/)
    expect(r.stdout).toMatch(/memory-emptyobj-.*: JSON, but not a memory-diagnostics-dumper dump/)
    expect(r.stdout).toMatch(/memory-null-.*: JSON, but not a memory-diagnostics-dumper dump/)
    expect(r.stdout).toMatch(/^Session demosess, process 2919/m) // the valid trail is still summarised
    expect(r.stderr).toBe('')
    // The producer's own check stays strict: the same document fails the strict schema.
    expect(validate(schema, newer).some((e: string) => /unexpected property somethingNew/.test(e))).toBe(true)
  })

  it('survives hostile files: bad timestamps, FIFOs, huge files and strings, control characters', async () => {
    const dir = fixture('v8-oom-no-cgroup-limit')
    const named = (n: string) => join(dir, `memory-${n}-2026-11-26T18-53-01-000Z-1.json`)
    writeFileSync(named('numts'), JSON.stringify({ ...realDump(), sessionId: 'numts', timestamp: 12345 }))
    writeFileSync(named('badts'), JSON.stringify({ ...realDump(), sessionId: 'badts', timestamp: 'yesterday-ish' }))
    writeFileSync(named('farts'), JSON.stringify({ ...realDump(), sessionId: 'farts', timestamp: '+275760-09-13T00:00:00.000Z' }))
    // A control character (and markup) in ids must not break the SVG's XML or the terminal.
    writeFileSync(named('ctrl'), JSON.stringify({ ...realDump(), pid: 4242, sessionId: 'a\u0007b\u001b[31m<x>&', trigger: 'hard\u0000' }))
    writeFileSync(
      join(dir, 'recorder-ctrl.jsonl'),
      jsonl([
        { type: 'start', t: '2026-11-26T18:53:05.000Z', epochMs: 1795719185000, pid: 4343, sessionId: 'z\u0001]]>', intervalMs: 100 },
        { type: 'sample', epochMs: 1795719185100, rssBytes: 'lots' },
        { type: 'sample', epochMs: 'never', rssBytes: 1 },
      ]),
    )
    // A FIFO named like a dump: skipped, not waited on.
    expect(spawnSync('mkfifo', [named('fifo')]).status).toBe(0)
    // 200 MB of string in `session`: over the size limit, never parsed.
    const fd = openSync(named('huge'), 'w')
    writeSync(fd, '{"schemaVersion":1,"atTrigger":{},"session":{"s":"')
    const chunk = Buffer.alloc(8 * MIB, 'x')
    for (let i = 0; i < 25; i++) writeSync(fd, chunk)
    writeSync(fd, '"}}')
    closeSync(fd)
    const svgFile = join(scratch(), 'hostile.svg')
    const htmlFile = join(scratch(), 'hostile.html')
    const r = spawnSync(process.execPath, [cli, 'inspect', dir, '--svg', svgFile, '--html', htmlFile], { encoding: 'utf8', timeout: 30_000 })
    expect(r.error).toBeUndefined() // no hang
    expect(r.status, r.stderr).toBe(1)
    expect(r.stderr).toBe('')
    expect(r.stdout).toMatch(/memory-numts-.*: does not match schema version 1: \/timestamp: expected string, got integer/)
    expect(r.stdout).toMatch(/memory-badts-.*: does not match schema version 1: \/timestamp: does not match/)
    expect(r.stdout).toMatch(/memory-fifo-.*: skipped: a FIFO, not a regular file/)
    expect(r.stdout).toMatch(/memory-huge-.*: skipped: 200 MiB is over this reader's 8 MiB limit/)
    expect(r.stdout).toMatch(/recorder-ctrl\.jsonl: 1 record\(s\) have no readable time and were skipped/)
    expect(r.stdout).toMatch(/^Session a\\u0007b\\u001b\[31m<x>&, process 4242/m)
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f]/)
    expect(r.stdout).toMatch(/^Session demosess, process 2919/m)
    const svg = readFileSync(svgFile, 'utf8')
    expect(svg).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/)
    expect(svg).toContain('a\\u0007b\\u001b[31m&lt;x&gt;&amp;')
    expect(readFileSync(htmlFile, 'utf8')).not.toMatch(/<x>/)
    const j = JSON.parse(spawnSync(process.execPath, [cli, 'inspect', dir, '--json'], { encoding: 'utf8', timeout: 30_000 }).stdout)
    expect(j.limits).toMatchObject({ dumpBytes: 8 * MIB, recorderBytes: 64 * MIB })
    if (chromium) {
      expect(wellFormed(svgFile)).toBe(true)
    }
  })

  it('draws large recorder files (two processes at the 4 MiB rotation size) without exhausting the stack', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    const T = Date.parse('2026-11-26T10:00:00.000Z')
    for (const [i, id] of ['big1', 'big2'].entries()) {
      const lines = [
        JSON.stringify({ type: 'start', t: new Date(T).toISOString(), epochMs: T, pid: 1000 + i, sessionId: id, intervalMs: 1000, schemaVersion: 1 }),
      ]
      let size = 0
      for (let n = 0; size < 4 * MIB - 400; n++) {
        const at = T + n * 1000
        const l = JSON.stringify({
          type: 'sample',
          t: new Date(at).toISOString(),
          epochMs: at,
          rssBytes: (100 + (n % 500)) * MIB,
          swapBytes: 0,
          cgroupUsageBytes: null,
          cgroupLimitBytes: null,
          psiSomeAvg10: 0,
          heapUsedBytes: (20 + (n % 300)) * MIB,
          heapTotalBytes: 400 * MIB,
          heapLimitBytes: 2048 * MIB,
          externalBytes: MIB,
          v8AgeMs: 3,
        })
        lines.push(l)
        size += l.length + 1
      }
      writeFileSync(join(dir, `recorder-${id}.jsonl`), lines.join('\n') + '\n')
    }
    const svgFile = join(scratch(), 'big.svg')
    const r = inspect(dir, '--svg', svgFile, '--html', join(scratch(), 'big.html'))
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.match(/Verdict: crashed/g)).toHaveLength(2)
    const svg = readFileSync(svgFile, 'utf8')
    // Each series keeps at most two points per pixel column.
    for (const m of svg.matchAll(/points="([^"]+)"/g)) expect(m[1].split(' ').length).toBeLessThanOrEqual(2 * 1000)
  })

  it('answers --help on every command and --version, with the exit codes documented', () => {
    const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version
    for (const args of [['--version'], ['-V'], ['inspect', '--version']]) {
      const r = run(...args)
      expect([r.status, r.stdout]).toEqual([0, `memory-diagnostics-dumper ${version}\n`])
    }
    const top = run('--help')
    expect(top.status).toBe(0)
    expect(top.stdout).toMatch(/inspect <dir\|file\.\.\.>/)
    const dir = fixture('v8-oom-no-cgroup-limit')
    for (const args of [
      ['inspect', '--help'],
      ['inspect', dir, '--help'],
      ['inspect', '-h'],
      ['help', 'inspect'],
    ]) {
      const r = run(...args)
      expect(r.status, args.join(' ')).toBe(0)
      expect(r.stdout).toMatch(/^usage: memory-diagnostics-dumper inspect/)
      expect(r.stdout).toMatch(/exit codes: 0 every file read and valid; 1 .*; 2 usage error/s)
    }
    const docs = readFileSync(join(root, 'docs', 'inspect.md'), 'utf8')
    for (const code of [0, 1, 2]) expect(docs).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'))
    expect(docs).toMatch(/--version/)
    expect(docs).toMatch(/8 MiB/)
  })

  it.each(implementations)('its schema check agrees with a full JSON Schema validator on $name documents', async ({ name, MemoryDiagnosticsDumper }) => {
    const dir = join(scratch(), 'd')
    const d = new MemoryDiagnosticsDumper({ directory: dir, recorder: { intervalMs: 20 } })
    // A recorder sample to put in the document's history (the JS implementation has none).
    if (name === 'native')
      await waitFor(
        () => (readdirSync(dir).some((f) => f.startsWith('recorder-') && readFileSync(join(dir, f), 'utf8').includes('"sample"')) ? true : undefined),
        'a recorder sample',
      )
    const doc = readDump(written(await d.dump('hard', input({ session: { a: 1 } }))))
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

  it.each(implementations)('a $name dump the host called critical never reads as healthy', async ({ MemoryDiagnosticsDumper }) => {
    // An idle process: no figure near any threshold, as in a critical dump written just before
    // a V8 heap OOM whose available/limit ratio sat just above 0.40.
    const d = new MemoryDiagnosticsDumper({ directory: join(scratch(), 'd'), cooldownMs: 0 })
    const critical = readDump(written(await d.dump('critical', input())))
    const manual = readDump(written(await d.dump('manual', input())))
    d.close()
    expect(critical.analysis.recommendation).not.toMatch(/No memory risk stood out/)
    expect(critical.analysis.risks[0].severity).toBe('critical')
    // Whatever this machine's figures add (the manual dump shows the rules alone), the critical
    // one carries the host's word unless a critical rule fired.
    if (!manual.analysis.risks.some((r: any) => r.severity === 'critical')) {
      const host = critical.analysis.risks.find((r: any) => r.type === 'hostReportedPressure')
      expect(host).toMatchObject({ severity: 'critical' })
      expect(host.message).toMatch(
        /the host reported critical memory pressure; no figure in this dump crossed a critical threshold \(JS heap at \d+% of V8's limit/,
      )
      expect(critical.analysis.risks[0]).toBe(host)
    }
    expect(manual.analysis.risks.some((r: any) => r.type === 'hostReportedPressure')).toBe(false)
    // The advice comes from a specific risk whenever there is one; the host's word stands alone otherwise.
    const specific = critical.analysis.risks.some((r: any) => r.type !== 'hostReportedPressure')
    expect(/^The host measured memory pressure/.test(critical.analysis.recommendation)).toBe(!specific)
  })
})

describe('npm run reliability-report', () => {
  it('writes the table from recorded figures and refuses a partial run', () => {
    const from = join(scratch(), 'results')
    mkdirSync(from)
    const to = join(scratch(), 'reliability.md')
    const script = join(root, 'scripts', 'reliability-report.mjs')
    writeFileSync(join(from, 'a.json'), JSON.stringify({ scenario: 'a | b', iterations: 3, violations: 0, how: 'h' }))
    const partial = spawnSync(process.execPath, [script, '--from', from, '--to', to], { encoding: 'utf8' })
    expect(partial.status).toBe(1)
    expect(partial.stderr).toMatch(/1 scenario\(s\) recorded, a full run has at least 8/)
    for (let i = 0; i < 8; i++)
      writeFileSync(join(from, `s${i}.json`), JSON.stringify({ scenario: `s${i}`, iterations: i, violations: 0, how: 'run', details: 'ok' }))
    expect(spawnSync(process.execPath, [script, '--from', from, '--to', to]).status).toBe(0)
    const md = readFileSync(to, 'utf8')
    expect(md).toMatch(/^\| a \\\| b \| 3 \| 0 \| h \| {2}\|$/m)
    expect(md).toMatch(/^\| s7 \| 7 \| 0 \| run \| ok \|$/m)
    // The suite's own setup no longer writes docs/: only this script does.
    expect(readFileSync(join(root, '__test__', 'global-setup.ts'), 'utf8')).not.toMatch(/writeFileSync/)
    expect(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts['reliability-report']).toMatch(/reliability-report\.mjs/)
  })
})

describe('inspect at its documented limits', () => {
  it('reads a recorder trail just under its 64 MiB limit (~190,000 lines): text, --json and --svg, with a verdict', () => {
    const dir = join(scratch(), 'diag')
    mkdirSync(dir)
    const file = join(dir, 'recorder-bigtrail-4242-0a0b0c0d.jsonl')
    const fd = openSync(file, 'w')
    const t0 = Date.UTC(2026, 10, 30, 12)
    const start = {
      type: 'start',
      t: new Date(t0).toISOString(),
      epochMs: t0,
      pid: 4242,
      processStartMs: t0 - 1000,
      sessionId: 'bigtrail',
      intervalMs: 100,
      schemaVersion: 1,
      continues: false,
    }
    writeSync(fd, JSON.stringify(start) + '\n')
    let bytes = 0
    let lines = 0
    const chunk: string[] = []
    for (let i = 1; bytes < 64 * MIB - 64 * 1024; i++) {
      const ms = t0 + i * 100
      const line =
        JSON.stringify({
          type: 'sample',
          t: new Date(ms).toISOString(),
          epochMs: ms,
          rssBytes: 100 * MIB + i * 1024,
          rssAnonBytes: 60 * MIB + i * 1024,
          rssFileBytes: 40 * MIB,
          rssShmemBytes: 0,
          swapBytes: 0,
          cgroupUsageBytes: 200 * MIB + i * 1024,
          cgroupLimitBytes: null,
          psiSomeAvg10: 0,
          heapUsedBytes: 50 * MIB + i * 1024,
          heapTotalBytes: 60 * MIB + i * 1024,
          heapLimitBytes: 4096 * MIB,
          externalBytes: 2 * MIB,
          v8AgeMs: 20,
        }) + '\n'
      bytes += line.length
      lines++
      chunk.push(line)
      if (chunk.length === 5000) writeSync(fd, chunk.splice(0).join(''))
    }
    writeSync(fd, chunk.join(''))
    closeSync(fd)
    expect(lines).toBeGreaterThan(130_000)
    const text = inspect(dir)
    expect(text.status, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/crashed/)
    expect(text.stdout).not.toMatch(/Maximum call stack/)
    const json = inspect(dir, '--json')
    expect(json.status, json.stderr).toBe(0)
    const parsed = JSON.parse(json.stdout)
    expect(parsed.processes).toHaveLength(1)
    // At most 20,000 records are kept of one file (LIMITS.recorderRecords): the rest thinned, and a note says so.
    expect(parsed.processes[0].recorder.samples).toBeGreaterThan(10_000)
    expect(parsed.processes[0].recorder.samples).toBeLessThanOrEqual(20_020)
    expect(parsed.notes).toEqual([
      expect.stringContaining(`${lines + 1} records: more than the 20000 this reader keeps of one file; samples thinned to one in`),
    ])
    expect(parsed.processes[0].verdict.outcome).toBe('crashed')
    const out = join(scratch(), 'timeline.svg')
    const svg = inspect(dir, '--svg', out)
    expect(svg.status, svg.stderr).toBe(0)
    expect(readFileSync(out, 'utf8')).toMatch(/^<svg/)
  }, 120_000)
})
