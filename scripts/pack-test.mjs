// Packaging test: packs the root package and this machine's glibc Linux platform package
// (linux-x64-gnu, or linux-arm64-gnu on the release workflow's arm64 runner) as npm
// would publish them, installs them into a fresh project whose PATH has no Rust
// toolchain, and completes a dump from CommonJS and from ESM. A second project without
// the platform package must still dump, through the pure-JS fallback. Prints one JSON
// line with what it checked; exits non-zero on the first failure.
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const work = mkdtempSync(join(tmpdir(), 'mdd-pack-'))
const npm = (args, cwd) => execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8' })
const fail = (msg) => {
  console.error(`pack-test: ${msg}`)
  process.exit(1)
}

// 1. The platform package, as `napi create-npm-dirs` + `napi artifacts` lay it out.
const platform = `linux-${process.arch}-gnu`
const binary = readdirSync(root).find((f) => f === `memory-diagnostics-dumper.${platform}.node`)
if (!binary) fail(`memory-diagnostics-dumper.${platform}.node is not built (run npm run build)`)
// napi keeps package dirs inside the project: npm/<platform> (ignored by git).
execFileSync('npx', ['napi', 'create-npm-dirs'], { cwd: root, stdio: 'ignore' })
const platformDir = join(root, 'npm', platform)
copyFileSync(join(root, binary), join(platformDir, binary))

// 2. Pack both and check what ships.
const packed = (cwd, ...extra) => JSON.parse(npm(['pack', '--json', '--pack-destination', work, ...extra], cwd))[0]
const rootPack = packed(root)
const platformPack = packed(platformDir)
// The package's dependencies (fflate), packed from this checkout's node_modules: the fresh
// projects install offline, from tarballs only.
const dependencyTarballs = Object.keys(pkg.dependencies ?? {}).map((name) => packed(join(root, 'node_modules', name), '--ignore-scripts').filename)
const rootFiles = rootPack.files.map((f) => f.path).sort()
const platformFiles = platformPack.files.map((f) => f.path).sort()
const required = [
  'index.js',
  'index.mjs',
  'index.d.ts',
  'native.js',
  'native.d.ts',
  'lib/fallback/dump.js',
  'lib/dumper/public-class.js',
  'lib/dumper/heap-snapshot.js',
  'lib/contract.json',
  'lib/cli/main.js',
  'lib/cli/inspect/command.js',
  'lib/cli/bundle/bundle.js',
  'bin/memory-diagnostics-dumper.js',
  'package.json',
  'README.md',
  'lib/dump.schema.json',
]
for (const f of required) if (!rootFiles.includes(f)) fail(`root package lacks ${f}: ${rootFiles}`)
const forbidden = rootFiles.filter((f) => /\.node$|^src\/|^__test__\/|^tests\/|^target\/|^demo\/|^scripts\/|Cargo\.|\.rs$/.test(f))
if (forbidden.length) fail(`root package ships files it should not: ${forbidden}`)
if (!platformFiles.includes(binary)) fail(`platform package lacks ${binary}: ${platformFiles}`)
if (platformFiles.some((f) => f.endsWith('.js') && f !== binary)) fail(`platform package ships code: ${platformFiles}`)

// 3. A PATH without cargo or rustc.
const nodeDir = dirname(process.execPath)
const PATH = [nodeDir, '/usr/bin', '/bin'].filter((d) => !existsSync(join(d, 'cargo')) && !existsSync(join(d, 'rustc'))).join(':')
const env = { PATH, HOME: work, npm_config_cache: join(work, 'npm-cache') }
if (spawnSync('cargo', ['--version'], { env }).status === 0) fail('cargo is still reachable on the test PATH')

function project(name, tarballs) {
  const dir = join(work, name)
  mkdirSync(dir)
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }))
  execFileSync(
    'npm',
    ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', ...[...tarballs, ...dependencyTarballs].map((t) => join(work, t))],
    {
      cwd: dir,
      env: { ...env, PATH: `${nodeDir}:/usr/bin:/bin` },
      stdio: 'ignore',
    },
  )
  const script = (impl) => `
    const v8 = require('node:v8'); const fs = require('node:fs')
    async function main(m) {
      const d = new m.MemoryDiagnosticsDumper({ directory: require('node:path').join(process.cwd(), 'diag-' + ${JSON.stringify(impl)}), cooldownMs: 0 })
      const r = await d.dump('hard', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
      const doc = JSON.parse(fs.readFileSync(r.filePath, 'utf8'))
      console.log(JSON.stringify({ implementation: m.implementation, complete: r.complete, docImplementation: doc.runtime.implementation, fallbackReason: m.fallbackReason }))
    }`
  writeFileSync(join(dir, 'cjs.cjs'), `${script('cjs')}\nmain(require('memory-diagnostics-dumper'))`)
  writeFileSync(
    join(dir, 'esm.mjs'),
    `import { createRequire } from 'node:module'\nconst require = createRequire(import.meta.url)\n${script('esm')}\nimport * as m from 'memory-diagnostics-dumper'\nawait main(m)`,
  )
  const run = (file) => {
    const r = spawnSync(process.execPath, [file], { cwd: dir, env, encoding: 'utf8' })
    if (r.status !== 0) fail(`${name}/${file} failed: ${r.stderr}`)
    return JSON.parse(r.stdout.trim())
  }
  return { cjs: run('cjs.cjs'), esm: run('esm.mjs') }
}

const withBinary = project('consumer', [rootPack.filename, platformPack.filename])
for (const [kind, r] of Object.entries(withBinary)) {
  if (r.implementation !== 'native' || r.docImplementation !== 'native' || !r.complete) fail(`${kind} consumer: ${JSON.stringify(r)}`)
}
// 4. A host that bundles its CLI with esbuild keeps the package external, so the
// loader and its .node file are resolved from node_modules at run time.
const consumer = join(work, 'consumer')
writeFileSync(
  join(consumer, 'app.mjs'),
  `import v8 from 'node:v8'
import { MemoryDiagnosticsDumper, implementation } from 'memory-diagnostics-dumper'
const d = new MemoryDiagnosticsDumper({ directory: process.cwd() + '/diag-bundle', cooldownMs: 0 })
d.dump('critical', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
  .then((r) => console.log(JSON.stringify({ implementation, complete: r.complete })))
`,
)
const esbuild = join(root, 'node_modules', '.bin', 'esbuild')
const bundled = {}
for (const format of ['esm', 'cjs']) {
  const out = join(consumer, 'dist', `app.${format === 'esm' ? 'mjs' : 'cjs'}`)
  execFileSync(
    esbuild,
    [
      join(consumer, 'app.mjs'),
      '--bundle',
      '--platform=node',
      `--format=${format}`,
      '--external:memory-diagnostics-dumper',
      `--outfile=${out}`,
      '--log-level=warning',
    ],
    {
      cwd: consumer,
    },
  )
  const r = spawnSync(process.execPath, [out], { cwd: consumer, env, encoding: 'utf8' })
  if (r.status !== 0) fail(`esbuild ${format} bundle failed: ${r.stderr}`)
  bundled[format] = JSON.parse(r.stdout.trim())
  if (bundled[format].implementation !== 'native' || !bundled[format].complete) fail(`esbuild ${format} bundle: ${r.stdout}`)
}

// 5. The reader for maintainers runs from the installed package, without Rust.
const inspected = spawnSync(join(consumer, 'node_modules', '.bin', 'memory-diagnostics-dumper'), ['inspect', join(consumer, 'diag-cjs'), '--json'], {
  cwd: consumer,
  env,
  encoding: 'utf8',
})
if (inspected.status !== 0) fail(`inspect from the installed package failed: ${inspected.stderr}`)
const inspectProcesses = JSON.parse(inspected.stdout).processes.length
// The bundle command from the installed package (its fflate dependency resolved there), read back by inspect.
const bundled2 = spawnSync(
  join(consumer, 'node_modules', '.bin', 'memory-diagnostics-dumper'),
  ['bundle', join(consumer, 'diag-cjs'), '-o', join(consumer, 'report.zip')],
  { cwd: consumer, env, encoding: 'utf8' },
)
if (bundled2.status !== 0) fail(`bundle from the installed package failed: ${bundled2.stderr}`)
const reread = spawnSync(join(consumer, 'node_modules', '.bin', 'memory-diagnostics-dumper'), ['inspect', join(consumer, 'report.zip'), '--json'], {
  cwd: consumer,
  env,
  encoding: 'utf8',
})
if (reread.status !== 0 || JSON.parse(reread.stdout).processes.length !== inspectProcesses)
  fail(`inspect of the bundle from the installed package: ${reread.stderr}`)

const withoutBinary = project('consumer-no-binary', [rootPack.filename])
for (const [kind, r] of Object.entries(withoutBinary)) {
  if (r.implementation !== 'js' || r.docImplementation !== 'js' || !r.complete) fail(`${kind} fallback consumer: ${JSON.stringify(r)}`)
  if (!/native binding did not load/.test(r.fallbackReason) || r.fallbackReason.includes(work)) fail(`fallback reason: ${r.fallbackReason}`)
}

console.log(
  JSON.stringify({
    ok: true,
    version: pkg.version,
    rootFiles,
    platformFiles,
    rootPackedBytes: rootPack.size,
    platformPackedBytes: platformPack.size,
    native: withBinary,
    esbuild: bundled,
    inspectProcesses,
    fallback: withoutBinary,
  }),
)
