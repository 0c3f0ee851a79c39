'use strict'
// Entry point: the native addon when it loads, the pure-JS implementation otherwise, so
// that a missing or broken binary never breaks the host. `implementation` says which.
const os = require('node:os')

const firstLine = (error) => String((error && error.message) || error).split('\n')[0]

function reasonFrom(error) {
  // The loader chains what each attempt threw as `cause` (last attempt outermost): name
  // every artifact it tried and why it failed, in the order tried, rather than its
  // generic "Cannot find native binding" advice. This package ships no WASI build.
  const attempts = []
  for (let c = error && error.cause, n = 0; c && n < 20; c = c.cause, n++) attempts.unshift(firstLine(c))
  const tried = attempts.filter((m) => !/wasm32-wasi|\.wasi\.cjs/.test(m))
  const text = tried.length ? tried.join('; ') : firstLine(error)
  // Never put the user's home directory (and so their user name) into dumps.
  const home = os.homedir()
  return (home ? text.split(home).join('~') : text).slice(0, 1000)
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
