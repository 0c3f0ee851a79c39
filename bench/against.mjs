// Before and after in one run: `npm run bench -- --against DIR` measures this checkout and
// the one at DIR (an older commit, built) in fresh processes, alternating A and B every
// round so that both see the same machine, with bench/against-child.mjs from this
// checkout for both. Returns the medians over the rounds for each.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

export function against(other, rounds) {
  const roots = { after: resolve(here, '..'), before: resolve(other) }
  if (!existsSync(join(roots.before, 'index.js'))) throw new Error(`--against ${other}: no index.js there`)
  const base = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'mdd-against-'))
  const out = { before: [], after: [] }
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? ['before', 'after'] : ['after', 'before']
      for (const which of order) {
        const line = execFileSync(process.execPath, [join(here, 'against-child.mjs'), roots[which], join(base, `${which}-${r}`)], { encoding: 'utf8' })
        out[which].push(JSON.parse(line.trim().split('\n').at(-1)))
      }
    }
  } finally {
    rmSync(base, { recursive: true, force: true })
  }
  const summary = (xs) => Object.fromEntries(Object.keys(xs[0]).map((k) => [k, median(xs.map((x) => x[k]))]))
  return { rounds, before: summary(out.before), after: summary(out.after), roots }
}
