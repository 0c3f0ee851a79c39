// A running host: a recorder on argv[2], alive until killed; prints "ready" once its trail exists.
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
export const dumper = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: 'alive', recorder: { intervalMs: 100 } })
const wait = setInterval(() => {
  if (readdirSync(process.argv[2]).some((f) => f.startsWith('recorder-'))) {
    clearInterval(wait)
    process.stdout.write('ready\n')
  }
}, 20)
setInterval(() => dumper.observe(), 100)
