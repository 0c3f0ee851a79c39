// A host at rest that reads a large file again and again in its memory cgroup, so the page
// cache (active after the second read) fills most of the cgroup's limit: memory the kernel
// reclaims before it kills. argv: directory, scratch file, MiB. Prints one JSON line: the
// most page cache the cgroup held (MiB) and the dumps by trigger.
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(import.meta.url)
const { MemoryDiagnosticsDumper } = require('../../index.js')
const [dir, file, mibText] = process.argv.slice(2)
const dumper = new MemoryDiagnosticsDumper({ directory: dir, recorder: { intervalMs: 50 } })
const chunk = Buffer.alloc(1 << 20, 7)
const fd = fs.openSync(file, 'w')
for (let i = 0; i < Number(mibText); i++) fs.writeSync(fd, chunk)
fs.fsyncSync(fd)
fs.closeSync(fd)
const own = fs.readFileSync('/proc/self/cgroup', 'utf8').match(/^\d+:(?:memory|[^:]*,memory[^:]*|):(.*)$/m)[1]
const statFile = fs.existsSync('/sys/fs/cgroup/memory') ? `/sys/fs/cgroup/memory${own}/memory.stat` : `/sys/fs/cgroup${own}/memory.stat`
let cacheMiB = 0
for (let pass = 0; pass < 4; pass++) {
  const r = fs.openSync(file, 'r')
  while (fs.readSync(r, chunk, 0, chunk.length, null) > 0) {}
  fs.closeSync(r)
  const stat = fs.readFileSync(statFile, 'utf8')
  const value = (k) => Number(stat.match(new RegExp(`^${k} (\\d+)$`, 'm'))?.[1] ?? 0)
  cacheMiB = Math.max(cacheMiB, (value('active_file') + value('inactive_file') + value('total_active_file') * 0) / 2 ** 20)
  await new Promise((r) => setTimeout(r, 200))
}
await new Promise((r) => setTimeout(r, 500))
dumper.close()
fs.rmSync(file)
const triggers = {}
for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('memory-'))) {
  const t = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).trigger
  triggers[t] = (triggers[t] ?? 0) + 1
}
console.log(JSON.stringify({ cacheMiB, triggers }))
