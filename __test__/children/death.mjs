// Ends the way argv[3] says, with a recorder running (issue 33: every death told as it was):
// 'uncaught' (a TypeError thrown in parseReply), 'rejection' (an unhandled rejection),
// 'exit3' (process.exit(3)), 'exitCode5' (process.exitCode = 5, then the loop ends),
// 'clean' (the loop ends), 'handled' (an uncaught error the host's own handler takes, then
// the loop ends), 'string' (a thrown string), 'secret' (a TypeError whose message and
// stack-looking lines hold a canary, thrown from a module whose URL holds one),
// 'exitListenerCode9', 'beforeExitExit8', 'exitMinus1', 'vm', 'urlClass' (see below).
import { createRequire } from 'node:module'
import v8 from 'node:v8'
import vm from 'node:vm'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
// Kept referenced, as a host keeps its monitor (README: a dumper that is garbage-collected
// stops its recorder): an exported binding stays alive with the module. Node 26 collected an
// unexported one that no closure used before the error, and the trail ended "released".
export const dumper = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: 'death', recorder: { intervalMs: 50 } })
dumper.observe(v8.getHeapStatistics(), process.memoryUsage())

function parseReply(reply) {
  return reply.body.length
}

const how = process.argv[3]
// An exit listener of the host's, added after the dumper, that sets the code.
if (how === 'exitListenerCode9') process.on('exit', () => (process.exitCode = 9))
// process.exit() from the host's beforeExit listener, and a code outside 0-255.
if (how === 'beforeExitExit8') process.on('beforeExit', () => process.exit(8))
setTimeout(() => {
  if (how === 'exitMinus1') process.exit(-1)
  // Thrown by vm code (Node puts the source line before the stack's header).
  if (how === 'vm') vm.runInThisContext('(function vmThrow(o) { return o.missing.x })', { filename: '/opt/clean.js' })({})
  // An error class whose name is a URL with credentials and a query.
  if (how === 'urlClass') {
    class Named extends Error {}
    Object.defineProperty(Named, 'name', { value: 'https://u:CANARYCLASSPASS@h.example/x?k=CANARYCLASSQ' })
    throw new Named('x')
  }
  if (how === 'uncaught') parseReply({})
  if (how === 'rejection') Promise.reject(new RangeError('no'))
  if (how === 'exit3') process.exit(3)
  if (how === 'exitCode5') process.exitCode = 5
  if (how === 'handled') {
    process.on('uncaughtException', () => {})
    setTimeout(() => parseReply({}), 1)
  }
  if (how === 'string') throw 'a thrown string holding CANARY-STRING-VALUE'
  if (how === 'secret') {
    const url = `data:text/javascript,export function leak(){ const e = new TypeError('CANARY-MESSAGE\\n    at fake (/CANARY-FAKE-FRAME:1:1)'); throw e }`
    import(url).then((m) => setTimeout(() => m.leak(), 1))
  }
}, 150)
