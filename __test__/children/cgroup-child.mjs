// Holds argv[3] MiB of native memory (Buffers, touched), then dumps and prints the result.
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const held = []
for (let i = 0; i < Number(process.argv[3] ?? 0); i++) held.push(Buffer.alloc(1 << 20, 1))
const dumper = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: 'cgroup', cooldownMs: 0 })
const result = await dumper.dump('critical', { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() })
console.log(JSON.stringify(result))
