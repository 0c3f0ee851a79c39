// A TypeScript host's memory-pressure monitor, as in an AI coding CLI. The test suite
// type-checks this file (strict) against the published typings.
import path from 'node:path'
import v8 from 'node:v8'
import { MemoryDiagnosticsDumper, type DumpResult, type Trigger } from 'memory-diagnostics-dumper'

type Pressure = 'normal' | 'hard' | 'critical'

export class MemoryPressureMonitor {
  private readonly dumper: MemoryDiagnosticsDumper
  private historyEntries = 0

  constructor(projectDir: string, sessionId: string) {
    this.dumper = new MemoryDiagnosticsDumper({
      directory: path.join(projectDir, 'diagnostics'),
      sessionId,
      maxDumpsPerSession: 3,
      cooldownMs: 30_000,
      maxFiles: 20,
      appVersion: 'my-cli 1.2.3',
      suggestions: { hard: 'Run /compact to shrink the conversation.', critical: 'Save your work and restart.' },
    })
  }

  level(): Pressure {
    const heap = v8.getHeapStatistics()
    const ratio = heap.used_heap_size / heap.heap_size_limit
    return ratio > 0.75 ? 'critical' : ratio > 0.6 ? 'hard' : 'normal'
  }

  check(): Promise<DumpResult | null> | undefined {
    const level = this.level()
    if (level === 'normal') return undefined
    const trigger: Trigger = level
    // The three Node APIs go straight in: no mapping, no copying.
    const pending = this.dumper.dump(trigger, {
      heapStatistics: v8.getHeapStatistics(),
      memoryUsage: process.memoryUsage(),
      heapSpaces: v8.getHeapSpaceStatistics(),
      session: { historyEntries: this.historyEntries, model: 'example' },
    })
    // Here the phase-1 file is already complete on disk; clean up right away.
    this.historyEntries = 0
    return pending
  }

  newSession(id: string): void {
    this.dumper.resetForNewSession(id)
  }

  get dumpsThisSession(): number {
    return this.dumper.dumpCount
  }
}

export async function reportDump(monitor: MemoryPressureMonitor): Promise<string> {
  const result = await monitor.check()
  if (result === undefined) return 'no pressure'
  if (result === null) return 'skipped (cap or cooldown)'
  return result.error ? `dump incomplete: ${result.error}` : `dump ${result.dumpNumber} at ${result.filePath}`
}
