'use strict'
// Twin of src/probes/procfs.rs's `process_start_ms`; shared by the fallback (its own start)
// and the next start's `previousRun()` (whether a trail's process is the one running now).
// A process's start in epoch ms from Linux's procfs: the boot time (`btime` in /proc/stat)
// plus the start time in /proc/<pid>/stat, in clock ticks. Stable for the life of the
// process, so with its pid it names one process of this PID namespace: a pid reused, or a
// restarted container's pid 1, has another start. A process of another PID namespace (another
// container sharing the directory) is not seen here at all, or another has its pid: the pid
// test cannot tell it is running (docs/previous-run.md). Null where procfs cannot tell (not
// Linux, no /proc).

const fs = require('node:fs')

/**
 * Two readings of one process's start agree within this: procfs counts clock ticks of 10 ms,
 * and the figure is recorded rounded to the ms. `inspect`, `bundle --pid PID@START` and
 * `previousRun` all tell processes apart by it.
 */
const SAME_START_MS = 20

let btime
/** /proc/stat's boot time in seconds, read once; null without it. */
function bootTime() {
  if (btime !== undefined) return btime
  btime = null
  try {
    const m = /^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))
    if (m) btime = Number(m[1])
  } catch {}
  return btime
}

/** The start of process `pid` (a number, or 'self') in epoch ms, or null. */
function startMsOf(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const start = Number(
      stat
        .slice(stat.lastIndexOf(')') + 1)
        .trim()
        .split(/\s+/)[19],
    )
    const boot = bootTime()
    // USER_HZ is 100 on every Linux architecture Node runs on.
    return Number.isFinite(start) && boot !== null ? boot * 1000 + Math.round((start * 1000) / 100) : null
  } catch {
    return null
  }
}

module.exports = { SAME_START_MS, startMsOf }
