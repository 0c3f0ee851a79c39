// ES module types: the same declarations as the CommonJS entry (index.mjs re-exports it).
import cjs from './index.js'

export { MemoryDiagnosticsDumper, implementation, fallbackReason } from './index.js'
export type {
  DumpFailed,
  DumpInput,
  DumpRefused,
  DumpResult,
  DumpSkipped,
  DumpWritten,
  DumperOptions,
  HeapSnapshotResult,
  HeapSpaceInput,
  HeapStatisticsInput,
  MemoryUsageInput,
  Trigger,
} from './index.js'
export default cjs
