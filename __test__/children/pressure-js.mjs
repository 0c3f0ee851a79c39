// A host in a memory cgroup whose pressure dump the JS thread completes (issue 36, part 2):
// the recorder thread writes the dump on its own; once the loop answers, the JS thread adds
// the V8 figures of that moment and the allocation sites. argv: directory, mode:
//   alive: the loop is idle when the dump is written;
//   noobserve: as alive, but the host never pushes V8 figures (observe());
//   hostile: as noobserve, with process.memoryUsage throwing an error whose message is a
//            secret and the global Promise replaced;
//   block: the loop is blocked (a synchronous spin) from before the dump until 300 ms after
//          the complete dump is on disk, so the dump lands without the JS thread;
//   stringifyThrows: as alive, with telemetry (a logger keeping its records) and a host whose
//          JSON.stringify throws a secret for the allocation sites' section, so adding the
//          JS thread's part fails before the addon is asked: the dump is still told.
// Grows 120 MiB of Buffers and some JS heap from `leakRecords` (the pressure rule is set to
// 60% of the limit, under what kills it), then prints one JSON line once the figures are in.
import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const require = createRequire(import.meta.url)
const { MemoryDiagnosticsDumper } = require('../../index.js')
const [dir, mode] = process.argv.slice(2)
const records = []
const dumper = new MemoryDiagnosticsDumper({
  directory: dir,
  sessionId: 'pressure-js',
  recorder: { intervalMs: 50 },
  pressure: { ratio: 0.6 },
  allocationProfile: { samplingIntervalBytes: 16384 },
  ...(mode === 'stringifyThrows' ? { telemetry: { logger: { emit: (r) => records.push(r) } } } : {}),
})
const held = []
const leaked = []
function leakRecords() {
  for (let i = 0; i < 20000; i++) leaked.push({ id: i, label: `record ${leaked.length}`, at: [i, i + 1] })
}
const pressureDump = () => {
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('memory-') || !name.endsWith('.json')) continue
    try {
      const doc = JSON.parse(readFileSync(join(dir, name), 'utf8'))
      if (doc.trigger === 'pressure') return doc
    } catch {}
  }
  return null
}
const out = { mode }
for (let i = 0; i < 30; i++) {
  held.push(Buffer.alloc(4 << 20, 1))
  if (i % 3 === 0) leakRecords()
}
const warnings = []
process.on('warning', (w) => warnings.push({ code: w.code, message: w.message }))
if (mode !== 'noobserve' && mode !== 'hostile') dumper.observe()
if (mode === 'hostile') {
  process.memoryUsage = () => {
    throw new Error('SECRET_THROW_MESSAGE')
  }
  globalThis.Promise = function HostPromise() {}
}
if (mode === 'stringifyThrows') {
  const stringify = JSON.stringify
  JSON.stringify = function hostStringify(value, ...rest) {
    if (value !== null && typeof value === 'object' && Object.hasOwn(value, 'sites')) throw new Error('SECRET_THROW_MESSAGE')
    return Reflect.apply(stringify, this, [value, ...rest])
  }
}
if (mode === 'block') {
  const start = Date.now()
  let seen = null
  for (;;) {
    const doc = seen === null ? pressureDump() : null
    if (doc?.collectionComplete === true && seen === null) {
      seen = Date.now()
      out.completeWhileBlocked = true
      out.jsFiguresWhileBlocked = 'jsFigures' in doc
    }
    if (seen !== null && Date.now() - seen >= 300) break
    if (Date.now() - start > 30_000) break
  }
  out.blockedMs = Date.now() - start
}
const started = Date.now()
const wait = setInterval(() => {
  const doc = pressureDump()
  const done = mode === 'stringifyThrows' ? records.length > 0 && warnings.length > 0 : doc?.jsFigures !== undefined
  if (done || Date.now() - started > 30_000) {
    clearInterval(wait)
    out.doc = doc
    out.held = held.length + leaked.length
    out.warnings = warnings
    out.records = records.map((r) => ({ body: r.body, attributes: r.attributes }))
    console.log(JSON.stringify(out))
    dumper.close()
  }
}, 50)
