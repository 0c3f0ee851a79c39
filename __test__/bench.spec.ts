import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root, secondaryNode } from './helpers.js'

// The benchmark's figures live in docs/benchmarks.md (npm run bench), never in timed
// assertions; this only keeps the harness working and its structural facts true.
// The benchmark's figures and targets are the main Node's (docs/benchmarks.md): the other Node
// versions' legs (MDD_SECONDARY_NODE) leave the harness to the main one.
describe.skipIf(secondaryNode)('npm run bench (quick mode)', () => {
  it('measures every contender side by side and reports the targets', () => {
    const r = spawnSync(process.execPath, [join(root, 'bench/run.mjs'), '--quick'], { cwd: root, encoding: 'utf8', timeout: 300_000 })
    expect(r.status, r.stderr).toBe(0)
    // The machine's load is printed beside the figures, and a loaded run says it is one.
    const load = r.stdout.match(
      /Load average \(1 min\) (\d+\.\d\d) at the start and (\d+\.\d\d) at the end of the run, on (\d+) cores: (a quiet run|\*\*a loaded run)/,
    )
    expect(load, 'the load line').not.toBeNull()
    const loaded = Math.max(Number(load![1]), Number(load![2])) > Number(load![3])
    expect(load![4] === 'a quiet run').toBe(!loaded)
    if (loaded) expect(r.stderr).toMatch(/warning: load average \d+\.\d\d exceeds the \d+ cores: docs\/benchmarks\.md not written/)
    for (const c of [
      'native',
      'native, input omitted',
      'js',
      'plain JS',
      'node report',
      'floor (writeFileSync)',
      'floor (Rust create+write+rename)',
      'floor (Rust write+link, pre-opened)',
    ]) {
      expect(r.stdout).toContain(`| ${c} |`)
    }
    expect(r.stdout).toMatch(/\| zero forks per dump \| 0\.00 \| yes \|/)
    expect(r.stdout).toMatch(/\| phase 1, input passed, at most 3x of the Rust write\+link floor \(disk\) \| \d+\.\d\d \|/)
    expect(r.stdout).toMatch(/\| phase 1, input passed, at most 0\.25x of the plain-JS phase 1, which collects its own figures \(disk\) \| \d+\.\d\d \|/)
    expect(r.stdout).toMatch(/\| phase 1, input omitted \(the drop-in call\), at most 0\.4x of the plain-JS phase 1 \(disk\) \| \d+\.\d\d \|/)
    expect(r.stdout).toMatch(/`observe\(\)`: \d+ ns per call/)
    // The next start and telemetry: each case of previousRun() and the costs of telemetry.
    // Only its own line is matched, so that a failure shows that line (or the script's error).
    const nextStartLine = r.stdout.split('\n').find((l) => l.includes('`previousRun()` in fresh processes') || l.includes('bench/next-start.mjs failed'))
    const heap = String.raw`(\d+ KiB|heap not measured \(a GC ran during every call\)) \(\d+ KiB retained\)`
    expect(nextStartLine).toMatch(
      new RegExp(
        String.raw`in fresh processes .*: nothing new, \d+\.\d\d ms and ${heap}; after a clean exit, \d+\.\d\d ms and ${heap}; after a V8 heap OOM, \d+\.\d\d ms and ${heap}`,
      ),
    )
    const telemetryLine = r.stdout.split('\n').find((l) => l.includes("a metric reader's collection") || l.includes('bench/telemetry.mjs failed'))
    expect(telemetryLine).toMatch(/a metric reader's collection takes \d+(\.\d\d)? (µs|ms) with a dumper's gauges against \d+(\.\d\d)? (µs|ms) without them/)
    // The cost of watching: the recorder alone beside the recorder with the pressure rule.
    expect(r.stdout).toMatch(
      /The cost of watching .*: CPU time per sampling interval, every thread, \d+ µs with no dumper, \d+ µs with the recorder alone \(`pressure: false`\), \d+ µs with the pressure rule/,
    )
    // The phase-2, heap, event-loop and observe() targets are each printed with a measured value.
    for (const target of [
      'at most 0.75 KiB of V8 heap per awaited dump',
      'phase 2 latency at 100 MiB within 1.2x of 100 MiB',
      'host event-loop delay p99 at 100 MiB with phase 2 running',
      '`observe()` through the package entry at most 200 ns per call (ns)',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`\\| ${target.replace(/[().*]/g, '\\$&')}[^|]* \\| \\d+\\.\\d\\d \\| (yes|\\*\\*no\\*\\*) \\|`))
    }
    // Allocation profiles: off and on side by side, with the fetch time.
    // Each feature beside the same dumper without it: allocation profiles, and the watchdog's stacks.
    expect(r.stdout).toMatch(/\| allocation-heavy loop, wall time \| \d+\.\d ms \| \d+\.\d ms \| \d+\.\d{3}x \| \d+\.\d ms \| \d+\.\d ms \| \d+\.\d{3}x \|/)
    expect(r.stdout).toMatch(/\| capturing a blocked loop's stack \(watchdog request to answer\) \| \| \| \| \| \d+\.\d ms \(1 of 1 captured\) \| \|/)
    expect(r.stdout).toMatch(/\| fetching and summarizing a profile \(JS thread, after phase 2\) \| \| \d+\.\d ms \| \|/)
    // The heap-snapshot peak per shape, each beside the guard's estimate.
    expect(r.stdout).toMatch(/## Heap-snapshot peak by heap shape and Node version/)
    expect(r.stdout).toMatch(/strings .* snapshot peak \+ *\d+ MiB .* guard's estimate *\d+ MiB \(covers it/)
    // The RSS split's sources at every size, and the decomposed heap figure.
    expect(r.stdout).toContain('anon status:RssAnon, file status:RssFile, shmem status:RssShmem, swap status:VmSwap')
    expect(r.stdout).toMatch(/native, full dump with empty input objects: \d+\.\d\d KiB/)
    expect(r.stdout).toMatch(
      /Collecting omitted input on the JS thread: \d+ µs per `dump\(trigger\)` \(median\), measured between dumps as a host makes the calls, of which `v8\.getHeapStatistics\(\)` \d+ µs/,
    )
    // mallinfo2's cost and how long it keeps another thread's malloc waiting, by fragmentation.
    expect(r.stdout).toMatch(/\| 10,000 \| \d+(\.\d\d)? (µs|ms) \| .* \| \d+(\.\d\d)? (µs|ms) \/ \d+(\.\d\d)? (µs|ms) \| \d+\.\d MiB \|/)
  })
})
