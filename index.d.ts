import type { DumperOptions, DumpInput, DumpResult, HeapStatisticsInput, MemoryUsageInput, Trigger } from './native.js'

// The public types, named one by one: the native binding's own exports (its raw class,
// internal functions, the loader's target) are not part of the package's surface.
export type {
  DumpFailed,
  DumpInput,
  DumpRefused,
  DumpResult,
  DumpSkipped,
  DumpWritten,
  DumperOptions,
  HeapSnapshotResult,
  HeapSpaceInput,
  HeapStatisticsInput,
  MemoryUsageInput,
  Trigger,
} from './native.js'

/** Which implementation is active: the native addon, or the pure-JS fallback. */
export declare const implementation: 'native' | 'js'
/** Why the pure-JS fallback is active (the loader's first error), or null. */
export declare const fallbackReason: string | null

/**
 * Writes memory diagnostics: a complete phase-1 document before `dump()` returns, then
 * the enriched phase 2 off the JS thread. The same contract over the native addon and
 * the JS fallback.
 */
export declare class MemoryDiagnosticsDumper {
  /**
   * Throws `InvalidArg` (naming the field, or an unknown option and the closest known
   * one) for programming errors; never for an unusable directory (see `problem`).
   */
  constructor(options: DumperOptions)
  /**
   * Writes a complete phase-1 document before returning, then enriches it off the JS
   * thread. Never throws and never rejects: see `DumpResult` for what it resolves to.
   * Omitted input is collected here (`v8.getHeapStatistics()`, `process.memoryUsage()`,
   * `v8.getHeapSpaceStatistics()`, active resources by type).
   */
  dump(trigger: Trigger, input?: DumpInput): Promise<DumpResult>
  /**
   * Pushes the latest V8 figures to the recorder and watchdog (omitted: collected here).
   * Call it on every check of the host's monitor: it also tells the watchdog that the
   * event loop is alive.
   */
  observe(heapStatistics?: HeapStatisticsInput, memoryUsage?: MemoryUsageInput): void
  /**
   * Stops the recorder (which appends an `exit` record). Later dumps resolve
   * `{ written: false, skipped: 'closed' }`. Idempotent.
   */
  close(): void
  /** Starts a new session: the dump count and cooldown start over; `sessionId`, if given, names the files from now on. */
  resetForNewSession(sessionId?: string | null): void
  /** Dumps written (or attempted) in the current session. */
  get dumpCount(): number
  /** The diagnostics directory as configured. */
  get directory(): string
  /** The file-name-safe short session id in use. */
  get sessionId(): string
  /** Why no dump can be written (the directory was found unusable at construction), or null. */
  get problem(): string | null
}
