// A host whose only monitor is the heap-based one a host writes (heapUsed / heap_size_limit
// against hard 0.7 and critical 0.85), with the recorder on, that grows memory its monitor
// cannot see until the kernel kills it. argv: directory, what grows:
//   buffers: Buffers of 4 MiB, touched;
//   native:  zlib deflate streams kept open (malloc: each holds its window and state);
//   child:   a child process grows Buffers (the kernel kills the child, the biggest); this
//            host prints the child's end as one JSON line and ends 1 s later;
//   move:    moves itself into the cgroup whose cgroup.procs is argv[4] after 1 s, then grows
//            Buffers there (the limit that kills it is not the one it started under).
import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import v8 from 'node:v8'
import zlib from 'node:zlib'

const require = createRequire(import.meta.url)
const { MemoryDiagnosticsDumper } = require('../../index.js')
const [dir, what, moveTo] = process.argv.slice(2)
const dumper = new MemoryDiagnosticsDumper({ directory: dir, sessionId: 'pressure', recorder: { intervalMs: 100 } })
const monitor = setInterval(() => {
  const h = v8.getHeapStatistics()
  const ratio = h.used_heap_size / h.heap_size_limit
  if (ratio >= 0.85) void dumper.dump('critical')
  else if (ratio >= 0.7) void dumper.dump('hard')
  dumper.observe()
}, 100)
const held = []
let moved = what !== 'move'
if (!moved)
  setTimeout(() => {
    writeFileSync(moveTo, String(process.pid))
    moved = true
  }, 1000)
if (what === 'child') {
  const grower = 'const h = []; setInterval(() => h.push(Buffer.alloc(4 << 20, 1)), 20)'
  spawn(process.execPath, ['-e', grower], { stdio: 'ignore' }).on('exit', (code, signal) => {
    console.log(JSON.stringify({ child: { code, signal } }))
    setTimeout(() => {
      dumper.close()
      process.exit(0)
    }, 1000)
  })
}
const grow = setInterval(() => {
  if (what === 'child') return
  if (!moved) return
  if (what === 'buffers' || what === 'move') held.push(Buffer.alloc(4 << 20, 1))
  else {
    for (let i = 0; i < 8; i++) {
      const z = zlib.createDeflate({ level: 9, memLevel: 9, windowBits: 15 })
      z.write(Buffer.alloc(64 << 10, i))
      held.push(z)
    }
  }
}, 20)
void monitor
void grow
