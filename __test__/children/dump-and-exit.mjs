// One short-lived process of many sharing a directory (maxFiles 3). argv[3]:
//   'exit'     dump once and exit as soon as dump() returns (phase 2 never runs)
//   'recorder' recorder on, no dump: sample for a while, close() and exit
// argv[4]: the session id (default 'short')
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const [dir, mode, session = 'short'] = [process.argv[2], process.argv[3], process.argv[4]]
const d = new MemoryDiagnosticsDumper({ directory: dir, sessionId: session, maxFiles: 3, ...(mode === 'recorder' && { recorder: { intervalMs: 10 } }) })
if (mode === 'exit') {
  const p = d.dump('hard', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
  void p
  process.exit(0)
} else {
  setTimeout(() => {
    d.close()
    setTimeout(() => process.exit(0), 30)
  }, 100)
}
