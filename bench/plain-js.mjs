// REFERENCE CONTENDER, not part of the package: the plain-JS approach hosts use today,
// written as they typically write it, so the benchmark can compare against it.
//   phase 1 (inside dump()): the figures a host's dumper collects itself (heap statistics,
//            memory usage, heap spaces; those the caller passes are used as they are),
//            then JSON.stringify(payload, null, 2) + fs.writeFileSync to the final name,
//            nothing else; `padTo` pads the payload to a given document size so that it
//            writes as many bytes as the addon's phase 1
//   phase 2 (on a later turn of the event loop, still on the JS thread):
//            v8.getHeapSpaceStatistics(), process.resourceUsage(), /proc/self/smaps_rollup,
//            /proc/self/fd, and a forked `ps -axo pid=,ppid=,rss=` to size the process
//            tree; then fs.writeFileSync over the same file.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import v8 from 'node:v8'

export class PlainJsDumper {
  #n = 0
  constructor({ directory, padTo = 0 }) {
    this.directory = directory
    this.padTo = padTo
    fs.mkdirSync(directory, { recursive: true })
  }

  dump(trigger, input = {}) {
    const n = ++this.#n
    const figures = {
      heapStatistics: input.heapStatistics ?? v8.getHeapStatistics(),
      memoryUsage: input.memoryUsage ?? process.memoryUsage(),
      heapSpaces: input.heapSpaces ?? v8.getHeapSpaceStatistics(),
    }
    const filePath = path.join(this.directory, `plain-${process.pid}-${n}.json`)
    const payload = { trigger, dumpNumber: n, timestamp: new Date().toISOString(), ...figures, pad: '' }
    let text = JSON.stringify(payload, null, 2)
    if (text.length < this.padTo) {
      payload.pad = 'x'.repeat(this.padTo - text.length)
      text = JSON.stringify(payload, null, 2)
    }
    fs.writeFileSync(filePath, text)
    return new Promise((resolve) => setImmediate(resolve)).then(
      () =>
        new Promise((resolve) => {
          const heapSpaces = v8.getHeapSpaceStatistics()
          const resourceUsage = process.resourceUsage()
          let smaps = null
          let fds = null
          try {
            smaps = fs.readFileSync('/proc/self/smaps_rollup', 'utf8')
            fds = fs.readdirSync('/proc/self/fd').length
          } catch {}
          execFile('ps', ['-axo', 'pid=,ppid=,rss='], { maxBuffer: 16 << 20 }, (err, stdout) => {
            const tree = err ? null : stdout.trim().split('\n').length
            fs.writeFileSync(filePath, JSON.stringify({ ...payload, heapSpaces, resourceUsage, smaps, fds, processes: tree }, null, 2))
            resolve({ filePath, complete: !err })
          })
        }),
    )
  }
}
