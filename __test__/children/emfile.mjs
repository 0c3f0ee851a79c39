// Constructs a dumper, exhausts the process's file descriptors (run it under a low
// `ulimit -n`), then dumps once and prints the result and how many descriptors it held.
import { closeSync, openSync } from 'node:fs'
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const d = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: 'emfile', cooldownMs: 0 })
const input = { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() }
const held = []
let code = null
for (;;) {
  try {
    held.push(openSync('/dev/null', 'r'))
  } catch (e) {
    code = e.code
    break
  }
}
const result = await d.dump('hard', input)
for (const fd of held) closeSync(fd)
process.stdout.write(JSON.stringify({ result, exhaustedWith: code, held: held.length }) + '\n')
