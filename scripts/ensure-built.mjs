// Builds the native addon when it is missing or older than its sources, so that
// `npm run demo` and `npm test` work straight after `npm ci` on a fresh machine.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const binary = readdirSync(root).find((f) => /^memory-diagnostics-dumper\..+\.node$/.test(f))

function newestSource() {
  let newest = 0
  const visit = (p) => {
    const st = statSync(p)
    if (st.isDirectory()) for (const f of readdirSync(p)) visit(join(p, f))
    else newest = Math.max(newest, st.mtimeMs)
  }
  for (const p of ['src', 'Cargo.toml', 'Cargo.lock', 'build.rs', 'typings']) {
    if (existsSync(join(root, p))) visit(join(root, p))
  }
  return newest
}

const sources = newestSource()
// CI jobs that test a downloaded prebuilt binary set MDD_SKIP_BUILD=1.
const stale = process.env.MDD_SKIP_BUILD !== '1' && (!binary || statSync(join(root, binary)).mtimeMs < sources)
if (stale || process.argv.includes('--force')) {
  console.log(binary ? 'Native addon is older than its sources; rebuilding…' : 'Building the native addon (first run)…')
  try {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' })
  } catch {
    console.error(
      '\nBuilding the native addon failed. Building from source needs a Rust toolchain (https://rustup.rs);' +
        ' users installing from npm get prebuilt binaries instead.',
    )
    process.exit(1)
  }
}

// The test suite also loads a build with the `test-hooks` feature (fault points that
// make the code panic on purpose); it lives under target/ and is never published.
if (process.argv.includes('--with-test-hooks')) {
  const hooks = join(root, 'target', 'test-hooks')
  const hooksBinary = existsSync(hooks) && readdirSync(hooks).find((f) => f.endsWith('.node'))
  if (!hooksBinary || statSync(join(hooks, hooksBinary)).mtimeMs < sources) {
    console.log('Building the test-hooks variant of the addon…')
    execFileSync('npx', ['napi', 'build', '--platform', '--release', '--features', 'test-hooks', '-o', 'target/test-hooks', '--no-js', '--dts', 'hooks.d.ts'], {
      cwd: root,
      stdio: 'inherit',
    })
  }
}
