// Creates a dumper in argv[2], dumps once, prints the promise's result as JSON.
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const dumper = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: 'child', cooldownMs: 0 })
const result = await dumper.dump(process.argv[3] ?? 'hard', {
  heapStatistics: v8.getHeapStatistics(),
  memoryUsage: process.memoryUsage(),
})
console.log(JSON.stringify(result))
