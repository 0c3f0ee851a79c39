// Turns TypeScript sources (examples, README code blocks) into ES modules that run
// against this checkout: types are stripped by esbuild, `memory-diagnostics-dumper`
// points at the package entry, and relative `./x.js` imports at the sibling `.mjs`.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { transformSync } from 'esbuild'
import { root } from './helpers.js'

export function toModule(source: string): string {
  const { code } = transformSync(source, { loader: 'ts', format: 'esm', target: 'node20' })
  return code
    .replace(/(from\s+|import\s*\(\s*)(['"])memory-diagnostics-dumper\2/g, `$1${JSON.stringify(pathToFileURL(join(root, 'index.mjs')).href)}`)
    .replace(/(from\s+)(['"])(\.\/[^'"]+)\.js\2/g, '$1$2$3.mjs$2')
}

/** Writes each `name.ts` source as `name.mjs` in `dir`; returns the paths by name. */
export function writeModules(dir: string, sources: Record<string, string>): Record<string, string> {
  mkdirSync(dir, { recursive: true })
  const out: Record<string, string> = {}
  for (const [name, source] of Object.entries(sources)) {
    out[name] = join(dir, `${name}.mjs`)
    writeFileSync(out[name], toModule(source))
  }
  return out
}
