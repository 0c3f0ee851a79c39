// One fresh idle process of the watching bench: argv directory, mode (none | recorder |
// pressure), intervalMs, seconds. It makes the dumper the mode asks for, stays idle (a
// timer that does nothing keeps it alive), and prints one JSON line: the process's CPU time
// (user + system, every thread: the recorder's is the only one that works) and its RSS.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const [dir, mode, intervalText, secondsText] = process.argv.slice(2)
const intervalMs = Number(intervalText)
const { MemoryDiagnosticsDumper } = require('../index.js')
const d = mode === 'none' ? null : new MemoryDiagnosticsDumper({ directory: dir, recorder: { intervalMs }, pressure: mode === 'pressure' ? {} : false })
// Past construction and the warm-up.
await new Promise((r) => setTimeout(r, 300))
const cpu0 = process.cpuUsage()
const t0 = process.hrtime.bigint()
await new Promise((r) => setTimeout(r, Number(secondsText) * 1000))
const cpu = process.cpuUsage(cpu0)
const ms = Number(process.hrtime.bigint() - t0) / 1e6
d?.close()
console.log(JSON.stringify({ mode, cpuUs: cpu.user + cpu.system, ms, rssBytes: process.memoryUsage().rss, intervals: ms / intervalMs }))
