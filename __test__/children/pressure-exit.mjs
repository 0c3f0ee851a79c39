// A host that closes its dumper and exits the moment the recorder thread's pressure dump has
// landed its phase 1, while its phase 2 is surely in flight (the test build's `phase2-slow`
// hook holds it 60 ms): the exit waits for it (at most 100 ms), so the dump is complete.
// argv: directory. Runs in a memory cgroup; the pressure rule is set to 60% of its limit.
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const root = join(import.meta.dirname, '..', '..')
const hooksDir = join(root, 'target', 'test-hooks')
const hooks = require(
  join(
    hooksDir,
    readdirSync(hooksDir).find((f) => f.endsWith('.node')),
  ),
)
const { wrap } = require(join(root, 'lib/dumper/public-class.js'))
const MemoryDiagnosticsDumper = wrap(hooks.MemoryDiagnosticsDumper, hooks)
const [dir] = process.argv.slice(2)
hooks.testArmPanic('phase2-slow', true)
const d = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'exit', recorder: { intervalMs: 20 }, pressure: { ratio: 0.6 } })
const held = []
for (let i = 0; i < 40; i++) held.push(Buffer.alloc(4 << 20, 1))
const end = Date.now() + 30_000
while (Date.now() < end && !readdirSync(dir).some((f) => f.startsWith('memory-') && f.endsWith('.json')));
d.close()
process.exit(4)
