// Each line below must be rejected by the typings; the test suite checks that tsc
// reports exactly these errors, so the typings cannot silently decay to `any`.
import v8 from 'node:v8'
import { bundle, MemoryDiagnosticsDumper } from 'memory-diagnostics-dumper'
// @ts-expect-error the native loader's target is not part of the package's surface
import { __napiBindingTarget } from 'memory-diagnostics-dumper'
// @ts-expect-error nor are the binding's internal functions
import { observedFigureKeys } from 'memory-diagnostics-dumper'

const d = new MemoryDiagnosticsDumper({ directory: '/tmp/x' })
const input = { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() }
// @ts-expect-error an unknown trigger
void d.dump('soft', input)
// @ts-expect-error a trigger is required
void d.dump()
// @ts-expect-error session values are flat
void d.dump('hard', { ...input, session: { nested: { a: 1 } } })
// @ts-expect-error samples are flat objects of numbers
void d.dump('hard', { samples: [{ label: 'x' }] })
// @ts-expect-error active resources are counts
void d.dump('hard', { activeResources: { TCPWrap: 'two' } })
// @ts-expect-error directory is required
new MemoryDiagnosticsDumper({ sessionId: 'x' })
// @ts-expect-error an unknown option (a typo of cooldownMs)
new MemoryDiagnosticsDumper({ directory: '/tmp/x', cooldown: 5 })
// @ts-expect-error now returns milliseconds
new MemoryDiagnosticsDumper({ directory: '/tmp/x', now: () => new Date() })
// @ts-expect-error filePath is only there when the dump used a slot
void d.dump('hard').then((r) => r.filePath.length)
// Reading a result: these narrow without errors.
void d.dump('hard').then((r) => {
  if (r.written) return r.filePath.length + r.dumpNumber
  if (r.skipped) return r.skipped === 'cooldown' ? (r.retryAfterMs ?? 0) : 0
  return r.error.length
})
// The trigger of a result is a Trigger, not any string.
// @ts-expect-error 'soft' is not a trigger
void d.dump('hard').then((r) => r.trigger === 'soft')
// @ts-expect-error maxBytes is a number of bytes
void bundle('/tmp/x', { maxBytes: '2MiB' })
// @ts-expect-error an unknown bundle option (a typo of output)
void bundle('/tmp/x', { outptu: 'x.zip' })
void __napiBindingTarget
void observedFigureKeys
