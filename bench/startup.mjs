// The cost of being there, in fresh processes: require() of the package (time and RSS),
// construction, the first dump after construction against the median of the next 40
// (input omitted, tmpfs when there is one), and the size of the loaded `.node`.
//   node bench/startup.mjs [--runs N]   prints one JSON line of medians over the runs
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const i = process.argv.indexOf('--runs')
const runs = i > 0 ? Number(process.argv[i + 1]) : 15
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const base = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'mdd-startup-'))
const out = []
for (let r = 0; r < runs; r++) {
  out.push(
    JSON.parse(
      execFileSync(process.execPath, [join(here, 'startup-child.mjs'), join(base, String(r))], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .at(-1),
    ),
  )
}
rmSync(base, { recursive: true, force: true })
const req = createRequire(import.meta.url)
const loaded = Object.keys(req.cache).find((k) => k.endsWith('.node'))
let nodeFile = null
try {
  req('../native.js')
  nodeFile = Object.keys(req.cache).find((k) => k.endsWith('.node')) ?? loaded ?? null
} catch {}
const pick = (k) => median(out.map((x) => x[k]))
console.log(
  JSON.stringify({
    runs,
    requireMs: pick('requireMs'),
    requireRssBytes: pick('requireRssBytes'),
    constructMs: pick('constructMs'),
    firstUs: pick('firstUs'),
    medianUs: pick('medianUs'),
    firstOverMedian: median(out.map((x) => x.firstUs / x.medianUs)),
    p99OverP50: median(out.map((x) => x.p99Us / x.medianUs)),
    nodeBytes: nodeFile ? statSync(nodeFile).size : null,
  }),
)
