import type { DumperOptions, DumpInput, DumpResult, HeapStatisticsInput, MemoryUsageInput, TelemetryOptions, Trigger } from './native.js'

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
  TelemetryOptions,
  Trigger,
} from './native.js'

/** Options of `bundle()`; see docs/bundle.md. */
export interface BundleOptions {
  /** Where to write the .zip (created exclusively, mode 0600); default `./memory-diagnostics-<UTC time>.zip`. */
  output?: string
  /** Every process in the directory (default: the most recent that crashed, else the most recent). */
  all?: boolean
  /** The processes of this session id. */
  session?: string
  /** The processes active since then: a Date, epoch ms, an ISO 8601 string or a duration back from now (`'30m'`, `'2h'`, `'7d'`). */
  since?: Date | number | string
  /** The most recent process with this pid, or `'PID@START'` with its start in epoch ms (what `previousRun()`'s command names). */
  pid?: number | string
  /** Add the chosen dumps' heap snapshots, redacted ones only, within the budget. */
  withSnapshots?: boolean
  /** The size limit in bytes (default 2 MiB, at least 64 KiB). */
  maxBytes?: number
  /** The environment whose HOME, USER, LOGNAME, USERNAME, HOSTNAME and COMPUTERNAME are redacted besides os.homedir(), os.userInfo() and os.hostname(); default `process.env`. */
  env?: Record<string, string | undefined>
}
/** What `bundle()` wrote. */
export interface BundleResult {
  /** The absolute path of the .zip. */
  path: string
  /** Its size in bytes. */
  bytes: number
  /** The names of the files in it, `manifest.json` first. */
  files: string[]
}
/**
 * Packs the diagnostics directory's evidence about a crash into one redacted .zip for a bug
 * report (dumps, the recorder trail, the inspect summary, the timeline, a manifest). Rejects
 * with an error naming the option or the problem; never changes the directory.
 */
export declare function bundle(dir: string, options?: BundleOptions): Promise<BundleResult>

/** Options of `previousRun()`; see docs/previous-run.md. */
export interface PreviousRunOptions {
  /** The diagnostics directory (the dumper's `directory`). */
  directory: string
  /** Only the processes of this session id (as the dumper's `sessionId`). */
  sessionId?: string
  /** The command that `bundleCommand` and `line` start with (default `npx memory-diagnostics-dumper bundle`). */
  bundleCommand?: string
  /** The host's OpenTelemetry: the answer also goes to `logger` as one log record (`memory_diagnostics.previous_run`). */
  telemetry?: Pick<TelemetryOptions, 'logger'> | null
}
/** How the previous process of a directory ended: `inspect`'s verdict on what a start can read. */
export interface PreviousRun {
  /** `crashed`, `clean exit` or `unknown` (no trail: its dumps alone cannot tell). */
  outcome: 'crashed' | 'clean exit' | 'unknown'
  /** True when it crashed. */
  died: boolean
  /** When it ended (its last sign of life), ISO 8601. */
  at: string | null
  pid: number | null
  sessionId: string | null
  /** The likely cause, as `inspect` words it (`v8HeapOom`, `cgroupOomKill`, `nearLimitKill`, `uncaughtException`, `unhandledRejection`, `exitCode`). */
  cause: { kind: string; confirmed: boolean; text: string } | null
  /** What the verdict rests on. */
  evidence: string
  /** The kind of memory that grew most over the end of the trail and the dumps. */
  growth: { kind: string; key: string; bytes: number } | null
  /** The code that grew (allocation profiles), when two of its dumps have sites. */
  site: { function: string; place: string; bytes: number; share: number } | null
  /** Where the event loop was blocked (a watchdog dump with its stack). */
  blockedIn: { function: string; place: string } | null
  /** The directory, resolved. */
  directory: string
  /** The files that hold the evidence, by name. */
  files: string[]
  /** One command that bundles the evidence for a bug report; null after a clean exit. */
  bundleCommand: string | null
  /** How it was told from a running process: its trail's lock (native), or its pid and start (the JS fallback, and a process that kept no trail). */
  liveness: 'lock' | 'pid'
  /** Whether it kept a recorder trail. */
  trail: boolean
  /** True when only the end of a long trail was read (growth covers the last minutes). */
  trailCut: boolean
  /** More dumps of its session in its lifetime than were looked at (64): `files` holds the newest of its own. */
  filesCut: boolean
  /** A problem met on the way (the answer may then be repeated by a later start), or null. */
  problem: string | null
  /** The line a CLI prints (null after a clean exit). */
  line: string | null
}
/**
 * How the previous process of `options.directory` ended, for a host's start-up: null when
 * there is nothing new to tell (no other process, every other one running, or every ended one
 * answered already). Each ended process is answered once per directory, by the one start that
 * creates its `.reported` marker. Never throws: bad options are a `problem` in the result.
 */
export declare function previousRun(options: PreviousRunOptions): PreviousRun | (Pick<PreviousRun, 'outcome' | 'died' | 'problem' | 'line'> & { problem: string }) | null

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
