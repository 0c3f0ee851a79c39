import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root } from './helpers.js'

// The benchmark's figures live in docs/benchmarks.md (npm run bench), never in timed
// assertions; this only keeps the harness working and its structural facts true.
describe('npm run bench (quick mode)', () => {
  it('measures every contender side by side and reports the targets', () => {
    const r = spawnSync(process.execPath, [join(root, 'bench/run.mjs'), '--quick'], { cwd: root, encoding: 'utf8', timeout: 300_000 })
    expect(r.status, r.stderr).toBe(0)
    for (const c of ['native', 'js', 'plain JS', 'node report', 'floor (writeFileSync)', 'floor (Rust create+write+rename)', 'floor (Rust write+link, pre-opened)']) {
      expect(r.stdout).toContain(`| ${c} |`)
    }
    expect(r.stdout).toMatch(/\| zero forks per dump \| 0\.00 \| yes \|/)
    expect(r.stdout).toMatch(/\| phase 1 at most 2\.5x of the Rust write\+link floor \(disk\) \| \d+\.\d\d \|/)
    expect(r.stdout).toMatch(/\| phase 1 at most 0\.3x of the plain-JS phase 1 \(disk\) \| \d+\.\d\d \|/)
    expect(r.stdout).toMatch(/`observe\(\)`: \d+ ns per call/)
  })
})
