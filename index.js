'use strict'
// Entry point: the native addon when it loads, the pure-JS implementation otherwise, so
// that a missing or broken binary never breaks the host. `implementation` says which.
const os = require('node:os')

function reasonFrom(error) {
  const first = String((error && error.message) || error).split('\n')[0]
  // Never put the user's home directory (and so their user name) into dumps.
  const home = os.homedir()
  return (home ? first.split(home).join('~') : first).slice(0, 500)
}

let binding = null
let fallbackReason = null
if (process.env.MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS === '1') {
  fallbackReason = 'forced by MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS=1'
} else {
  try {
    binding = require('./native.js')
  } catch (error) {
    fallbackReason = `the native binding did not load: ${reasonFrom(error)}`
  }
}

const implementation = binding ? 'native' : 'js'
const { MemoryDiagnosticsDumper } = binding || require('./fallback.js').create(fallbackReason)

module.exports = { MemoryDiagnosticsDumper, implementation, fallbackReason }
