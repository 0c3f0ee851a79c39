// A minimal memory-pressure monitor, the kind a long-running CLI runs: it checks the JS
// heap against V8's limit and the resident set against a byte budget, and on `hard` or
// `critical` pressure writes a dump and then runs the host's cleanup on the next line.
// The dumper needs two lines: the import and the construction. The test suite
// type-checks this file (strict) and runs it, in this process and in a child driven to
// a real V8 out-of-memory crash.
import v8 from 'node:v8'
import { type DumperOptions, MemoryDiagnosticsDumper } from 'memory-diagnostics-dumper'

export type Pressure = 'normal' | 'hard' | 'critical'

export interface MonitorOptions {
  /** Where dumps go. */
  directory: string
  /** Heap used / heap limit at which pressure is hard and critical (default 0.7 and 0.85). */
  heapRatio?: { hard: number; critical: number }
  /** Resident set size in bytes at which pressure is hard and critical (default: none). */
  rssBytes?: { hard: number; critical: number }
  /** What the host releases under pressure (caches, history, ...). */
  cleanup: (level: Exclude<Pressure, 'normal'>) => void
  /** Other dumper options (defaults: 3 dumps per session, 30 s apart). */
  dumper?: Omit<DumperOptions, 'directory'>
}

export class MemoryPressureMonitor {
  private readonly dumper: MemoryDiagnosticsDumper
  private acted: Pressure = 'normal'

  constructor(private readonly options: MonitorOptions) {
    this.dumper = new MemoryDiagnosticsDumper({ ...options.dumper, directory: options.directory })
  }

  level(): Pressure {
    const heap = v8.getHeapStatistics()
    const ratio = heap.used_heap_size / heap.heap_size_limit
    const rss = this.options.rssBytes ? process.memoryUsage.rss() : 0
    const { hard, critical } = this.options.heapRatio ?? { hard: 0.7, critical: 0.85 }
    if (ratio >= critical || (this.options.rssBytes && rss >= this.options.rssBytes.critical)) return 'critical'
    if (ratio >= hard || (this.options.rssBytes && rss >= this.options.rssBytes.hard)) return 'hard'
    return 'normal'
  }

  /** Acts once per level, when pressure first reaches it (hard, then critical). */
  check(): Pressure {
    const level = this.level()
    if (level === 'normal' || level === this.acted || this.acted === 'critical') return level
    this.acted = level
    void this.dumper.dump(level)
    this.options.cleanup(level)
    return level
  }

  /** Checks every `intervalMs` without keeping the process alive; returns a stop function. */
  start(intervalMs = 1000): () => void {
    const timer = setInterval(() => this.check(), intervalMs)
    timer.unref()
    return () => clearInterval(timer)
  }
}
