// A process with the shared default-like session id 'same': records, dumps once, then either
// SIGKILLs itself (argv[3] = 'kill') or closes its dumper and exits ('close').
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const dumper = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: 'same', cooldownMs: 0, recorder: { intervalMs: 50 } })
dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
await dumper.dump('hard', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
await new Promise((r) => setTimeout(r, 200))
if (process.argv[3] === 'kill') process.kill(process.pid, 'SIGKILL')
dumper.close()
