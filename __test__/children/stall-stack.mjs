// A host whose event loop is blocked by one of three functions (or by a native call, or
// while its own inspector is open), with the watchdog asked for the main thread's stack.
// argv: directory, blocker, secret. After the block it checks that its own inspector
// session still evaluates code, prints {"hostEval":…} and exits by itself.
import { execFileSync } from 'node:child_process'
import inspector from 'node:inspector'
import { createRequire } from 'node:module'
import v8 from 'node:v8'
import { Worker } from 'node:worker_threads'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const [dir, blocker, secret] = process.argv.slice(2)
if (blocker === 'inWorker') {
  // The same host, run in a worker thread: the helper can only read the main thread.
  new Worker(new URL(import.meta.url), { argv: [dir, 'pollUntilReady', secret] })
} else host()

function host() {
  const BLOCK_MS = 1800
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

  const dumper = new MemoryDiagnosticsDumper({
    directory: dir,
    sessionId: 'stall',
    recorder: { intervalMs: 50 },
    watchdog: { rssBytes: 1, stallMs: 300, captureStack: true },
  })
  dumper.observe(v8.getHeapStatistics(), process.memoryUsage())
  if (blocker === 'debugged') inspector.open(0, '127.0.0.1')

  // Let the helper thread start, then block the loop (the dumper stays referenced).
  setTimeout(() => {
    dumper.observe()
    const end = Date.now() + BLOCK_MS
    if (blocker === 'pollUntilReady' || blocker === 'debugged') pollUntilReady(end)
    else if (blocker === 'fibonacci') while (Date.now() < end) fibonacci(25)
    else if (blocker === 'serializeForever') serializeForever(end)
    else if (blocker === 'native') execFileSync(process.execPath, ['-e', `setTimeout(() => {}, ${BLOCK_MS})`])
    else throw new Error(`unknown blocker ${blocker}`)
    // The loop is back: the host's own inspector session still works.
    const session = new inspector.Session()
    session.connect()
    session.post('Runtime.evaluate', { expression: '6 * 7' }, (err, r) => {
      session.disconnect()
      if (blocker === 'debugged') inspector.close()
      if (process.env.STALL_CLOSE === '1') dumper.close()
      process.stdout.write(`${JSON.stringify({ hostEval: err ? String(err) : r.result.value })}\n`)
    })
  }, 300)
}
