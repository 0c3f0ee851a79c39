// A host whose event loop is blocked by one of three functions (or by a native call, or
// while it is being debugged: `debugged`), with the watchdog asked for the main thread's
// stack. argv: directory, blocker, secret. After the block it checks that its own inspector
// session still evaluates code, prints {"hostEval":…} (being debugged, also the pauses its
// own session saw and its CPU profile's sample count) and exits by itself.
import { execFileSync } from 'node:child_process'
import inspector from 'node:inspector'
import { createRequire } from 'node:module'
import v8 from 'node:v8'
import vm from 'node:vm'
import { Worker } from 'node:worker_threads'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const [dir, blocker, secret] = process.argv.slice(2)
if (blocker === 'inWorker') {
  // The same host, run in a worker thread: the helper can only read the main thread.
  new Worker(new URL(import.meta.url), { argv: [dir, 'pollUntilReady', secret] })
} else host()

function host() {
  // Being debugged, the stall threshold is higher: opening the inspector and turning its
  // debugger and profiler on (about 55 ms on Node 26, several times that on a loaded
  // machine) must not be the stall the watchdog sees.
  const STALL_MS = blocker === 'debugged' ? 1000 : 300
  const BLOCK_MS = STALL_MS + 1500
  const held = { token: `${secret}`, list: [] }

  function pollUntilReady(end) {
    let spins = 0
    while (Date.now() < end) spins++
    return spins
  }

  function fibonacci(n) {
    return n < 2 ? n : fibonacci(n - 1) + fibonacci(n - 2)
  }

  function serializeForever(end) {
    let text = JSON.stringify(held)
    while (Date.now() < end) text = JSON.stringify(JSON.parse(text))
    return text.length
  }

  // Scripts whose names carry what must not be kept: the blocking function's script is
  // named by a sourceURL with credentials, a query and a fragment, its caller's by a data:
  // URL whose content is the secret.
  function namedScripts(end) {
    const spin = new Function('end', `while (Date.now() < end) {}\n//# sourceURL=https://${secret}:pw@cdn.example/app/spin.js?key=${secret}#${secret}`)
    const encoded = Buffer.from(`secret=${secret}`).toString('base64')
    vm.runInThisContext('(spin, end) => spin(end)', { filename: `data:text/javascript;base64,${encoded}` })(spin, end)
  }

  const dumper = new MemoryDiagnosticsDumper({
    directory: dir,
    sessionId: 'stall',
    recorder: { intervalMs: 50 },
    watchdog: { rssBytes: 1, stallMs: STALL_MS, captureStack: true },
  })
  dumper.observe(v8.getHeapStatistics(), process.memoryUsage())

  // Let the helper thread start, then block the loop (the dumper stays referenced).
  setTimeout(() => {
    dumper.observe()
    // A host being debugged: its inspector opened in the same tick as the block, its own
    // session with the debugger on and a CPU profile running, counting the pauses it sees.
    // The observe() after it is a sign of life: the stall the watchdog sees starts with the block.
    let own = null
    if (blocker === 'debugged') {
      own = debugHost()
      dumper.observe()
    }
    const end = Date.now() + BLOCK_MS
    if (blocker === 'pollUntilReady' || blocker === 'debugged') pollUntilReady(end)
    else if (blocker === 'fibonacci') while (Date.now() < end) fibonacci(25)
    else if (blocker === 'serializeForever') serializeForever(end)
    else if (blocker === 'namedScripts') namedScripts(end)
    else if (blocker === 'native') execFileSync(process.execPath, ['-e', `setTimeout(() => {}, ${BLOCK_MS})`])
    else throw new Error(`unknown blocker ${blocker}`)
    // The loop is back: the host's own inspector session still works.
    const session = new inspector.Session()
    session.connect()
    session.post('Runtime.evaluate', { expression: '6 * 7' }, (err, r) => {
      session.disconnect()
      const report = { hostEval: err ? String(err) : r.result.value }
      const end = () => {
        if (process.env.STALL_CLOSE === '1') dumper.close()
        process.stdout.write(`${JSON.stringify(report)}\n`)
      }
      if (own === null) return end()
      own.session.post('Profiler.stop', (e, p) => {
        report.pausedEvents = own.paused
        report.profileSamples = e ? String(e) : p.profile.samples.length
        own.session.disconnect()
        inspector.close()
        end()
      })
    })
  }, 300)
}

function debugHost() {
  inspector.open(0, '127.0.0.1')
  const own = { session: new inspector.Session(), paused: 0 }
  own.session.connect()
  own.session.on('Debugger.paused', () => {
    own.paused++
    own.session.post('Debugger.resume')
  })
  // Same-thread sessions answer synchronously: all three are on before the block.
  own.session.post('Debugger.enable')
  own.session.post('Profiler.enable')
  own.session.post('Profiler.start')
  return own
}
