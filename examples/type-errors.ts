// Each line below must be rejected by the typings; the test suite checks that tsc
// reports exactly these errors, so the typings cannot silently decay to `any`.
import v8 from 'node:v8'
import { MemoryDiagnosticsDumper } from 'memory-diagnostics-dumper'

const d = new MemoryDiagnosticsDumper({ directory: '/tmp/x' })
const input = { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() }
// @ts-expect-error an unknown trigger
void d.dump('soft', input)
// @ts-expect-error memoryUsage is required
void d.dump('hard', { heapStatistics: v8.getHeapStatistics() })
// @ts-expect-error session values are flat
void d.dump('hard', { ...input, session: { nested: { a: 1 } } })
// @ts-expect-error directory is required
new MemoryDiagnosticsDumper({ sessionId: 'x' })
// @ts-expect-error the result may be null
void d.dump('hard', input).then((r) => r.filePath)
