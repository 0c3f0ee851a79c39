// argv[3] = 'close': close() before exiting; 'no-close': just let the process end;
// 'process-exit': call process.exit(0) while the recorder runs.
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const intervalMs = process.argv[3] === 'close' ? 50 : 60_000
const dumper = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: 'exit', recorder: { intervalMs } })
dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
setTimeout(() => {
  if (process.argv[3] === 'close') dumper.close()
  process.stdout.write(`${Date.now()}\n`)
  if (process.argv[3] === 'process-exit') process.exit(0)
}, 200)
