// ES module types: the same declarations as the CommonJS entry (index.mjs re-exports it).
export * from './index.js'
