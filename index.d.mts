// ES module types: the same declarations as the CommonJS entry (index.mjs re-exports it),
// whose public surface index.d.ts lists by name.
import cjs from './index.js'

export * from './index.js'
export default cjs
