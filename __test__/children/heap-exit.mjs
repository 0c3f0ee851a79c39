// A process that calls process.exit() while its heap snapshot is under way: once V8 has
// written the raw snapshot and the redacting copy has begun (its temporary file is there).
// argv: dir, canary, named ("named": the raw snapshot gets a name, as where the platform
// offers no unnamed files; needs the test-hooks build)
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import v8 from 'node:v8'

const require = createRequire(import.meta.url)
const [dir, canary, named] = process.argv.slice(2)
let { MemoryDiagnosticsDumper } = require('../../index.js')
if (named === 'named') {
  // The build with the `test-hooks` feature (made by `npm test`), under the same public class.
  const hooksDir = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../target/test-hooks')
  const hooks = require(
    join(
      hooksDir,
      readdirSync(hooksDir).find((f) => f.endsWith('.node')),
    ),
  )
  hooks.testArmPanic('heap-raw-named', true)
  MemoryDiagnosticsDumper = require('../../lib/dumper/public-class.js').wrap(
    require('../../lib/dumper/heap-snapshot.js').withHeapSnapshots(hooks.MemoryDiagnosticsDumper),
  )
}

globalThis.leak = []
for (let i = 0; i < 60000; i++) globalThis.leak.push({ secret: `${canary}-${i}-${'x'.repeat(40)}` })
const dumper = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'exiting', heapSnapshot: { triggers: ['critical'] } })
void dumper.dump('critical', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
// The dump's promise waits for the copy; meanwhile, exit as soon as a temporary file shows.
const poll = setInterval(() => {
  const temps = readdirSync(dir).filter((f) => f.startsWith('.heap-') && f.endsWith('.tmp'))
  // Named: the raw file's and the copy's; unnamed: the copy's alone.
  if (temps.length >= (named === 'named' ? 2 : 1)) {
    process.stdout.write(`${JSON.stringify({ exiting: true, temps })}\n`)
    process.exit(0)
  }
}, 1)
setTimeout(() => {
  clearInterval(poll)
  process.stdout.write(`${JSON.stringify({ exiting: false })}\n`)
}, 30_000).unref()
