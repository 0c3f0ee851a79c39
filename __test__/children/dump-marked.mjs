// One dump between two marker syscalls (failing access() calls on fixed paths), so a
// syscall trace can tell the dump's own calls from Node's start-up and exit.
import { accessSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import v8 from 'node:v8'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const mark = (m) => {
  try {
    accessSync(`/mdd-marker-${m}`)
  } catch {}
}
// The directory exists, as in a host that used it before: the dumper arms at construction.
mkdirSync(process.argv[2], { recursive: true, mode: 0o700 })
const dumper = new MemoryDiagnosticsDumper({ directory: process.argv[2], sessionId: 'strace', cooldownMs: 0 })
const input = { heapStatistics: v8.getHeapStatistics(), memoryUsage: process.memoryUsage() }
await new Promise((r) => setTimeout(r, 50)) // let the constructor's sweep finish
mark('start')
const result = await dumper.dump('hard', input)
mark('end')
process.stdout.write(JSON.stringify(result) + '\n')
