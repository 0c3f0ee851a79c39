// The cost of watching, in fresh idle processes, alternating their order: no dumper, the
// recorder alone (`pressure: false`), and the recorder with the pressure rule (the default):
// CPU time per sampling interval and RSS.
//   node bench/watching.mjs [--runs N] [--seconds S] [--interval MS]   one JSON line of medians
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const arg = (name, d) => {
  const i = process.argv.indexOf(name)
  return i > 0 ? Number(process.argv[i + 1]) : d
}
const runs = arg('--runs', 5)
const seconds = arg('--seconds', 10)
const interval = arg('--interval', 100)
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const base = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'mdd-watching-'))
const modes = ['none', 'recorder', 'pressure']
const out = Object.fromEntries(modes.map((m) => [m, []]))
for (let r = 0; r < runs; r++) {
  // Alternate the order, so a drift of the machine falls on every mode alike.
  for (const mode of r % 2 ? [...modes].reverse() : modes) {
    const line = execFileSync(process.execPath, [join(here, 'watching-child.mjs'), join(base, `${mode}-${r}`), mode, String(interval), String(seconds)], {
      encoding: 'utf8',
    })
    out[mode].push(JSON.parse(line.trim().split('\n').at(-1)))
  }
}
rmSync(base, { recursive: true, force: true })
const per = (mode) => ({
  cpuUsPerInterval: median(out[mode].map((x) => x.cpuUs / x.intervals)),
  rssMiB: median(out[mode].map((x) => x.rssBytes)) / 2 ** 20,
})
console.log(JSON.stringify({ runs, seconds, intervalMs: interval, ...Object.fromEntries(modes.map((m) => [m, per(m)])) }))
