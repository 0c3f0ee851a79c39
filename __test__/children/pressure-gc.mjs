// Dumpers with the pressure rule (whose recorder thread calls back into the JS thread after
// its own dumps), dropped by the host: each is still garbage-collected, and its trail ends
// `released`. Prints one JSON line: how many of 5 were collected. argv: directory, options (JSON).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const { MemoryDiagnosticsDumper } = require('../../index.js')
const [dir, json] = process.argv.slice(2)
let collected = 0
const registry = new FinalizationRegistry(() => collected++)
function makeAndDrop() {
  for (let i = 0; i < 5; i++) registry.register(new MemoryDiagnosticsDumper({ directory: dir, sessionId: `gc${i}`, ...JSON.parse(json) }), i)
}
makeAndDrop()
setTimeout(async () => {
  for (let i = 0; i < 20 && collected < 5; i++) {
    globalThis.gc()
    await new Promise((r) => setTimeout(r, 50))
  }
  console.log(JSON.stringify({ collected }))
}, 100)
