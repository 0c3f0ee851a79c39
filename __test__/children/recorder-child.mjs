// A process with the recorder on (sessionId argv[3]); prints 'ready' once it has sampled.
// argv[4] = 'close': close() and exit; 'hang': keep running until killed.
import { createRequire } from 'node:module'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const d = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: process.argv[3], recorder: { intervalMs: 10 } })
setTimeout(() => {
  process.stdout.write('ready\n')
  if (process.argv[4] === 'close') {
    d.close()
    setTimeout(() => process.exit(0), 50)
  } else setInterval(() => {}, 1000)
}, 150)
