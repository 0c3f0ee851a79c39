// ES module entry: the same objects as the CommonJS entry.
import cjs from './index.js'

export const { MemoryDiagnosticsDumper, implementation, fallbackReason, bundle, previousRun } = cjs
export default cjs
