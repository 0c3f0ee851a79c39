'use strict'
// Shared by inspect's modules: limits on what is read, and values made safe to show.

const os = require('node:os')
const { fixed } = require('../../rules/format')
const { replaceHome } = require('../../rules/places')
const CONTRACT = require('../../contract.json')

const MIB = 2 ** 20
const GIB = 2 ** 30

/**
 * What this reader is willing to read, so that a hostile or damaged file cannot exhaust its
 * memory or its time. Each limit is far above what the writer produces.
 */
const LIMITS = {
  /** A dump is 10-50 KiB; the schema's own bounds keep it under 2 MiB. */
  dumpBytes: 8 * MIB,
  /** The writer rotates a recorder file at 4 MiB. */
  recorderBytes: 64 * MIB,
  /** A recorder line is about 350 bytes. */
  recorderLineBytes: 64 * 1024,
  /** Files read per run; the rest are named as not read. */
  files: 10_000,
  /**
   * Bytes read from files in one run, in all: a directory of 10,000 hard links to one 60 MiB
   * trail (which costs a tarball nothing) is otherwise read once per name. Far above what a
   * directory holds (20 recorder files of 4 MiB by default, `maxFiles`).
   */
  totalBytes: 512 * MIB,
  /** Process panels drawn in the timeline; all of them are in the text and JSON output. */
  processesDrawn: 8,
  /** Characters of any text from a file that is shown (ids, triggers, reasons). */
  textChars: 80,
  /**
   * Entries read from any one array of a dump or record (history, samples, frames, risks):
   * the recorder keeps at most 10,000 samples (options.limits.maxSamples), the schema's longest
   * array. A longer one is cut to its first and last halves of this and named: 2.8 million `{}`
   * in one 8 MiB dump took 47 s and ended in a V8 heap OOM.
   */
  arrayItems: CONTRACT.options.limits.maxSamples,
  /**
   * JSON values (objects, arrays, strings, numbers, literals) in one dump, counted before it is
   * parsed: what JSON.parse builds is bounded too (an 8 MiB dump of 2.8 million `{}` needs more
   * than a 128 MB heap to parse). A dump with a full history of 10,000 samples holds ~200,000.
   */
  dumpValues: 1_000_000,
  /**
   * Records kept from one recorder file, and from all of them in one run: past the first, its
   * samples are thinned (one in 2, 4, …, the last ones always kept); past the second, further
   * files are named and not read. 8 hard links to one 63 MiB trail of minimal lines (12.6 million
   * records) ended in a V8 heap OOM at 4.7 GB. A 4 MiB file the writer rotates holds ~12,000.
   */
  recorderRecords: 20_000,
  runRecords: 400_000,
}

/** Two start times of one process, however measured, are this close (ms). */
const SAME_START_MS = 2000
/**
 * Two recorded starts (`processStartMs`) of one process are this close (ms): every writer
 * takes it once per process (procfs's boot time and start ticks on Linux), so they are equal;
 * two processes with one pid (a container's pid 1 restarted) differ by more. The one rule of
 * lib/rules/process-start.js.
 */
const SAME_RECORDED_START_MS = require('../../rules/process-start').SAME_START_MS
/** At the last sample, usage at this share of a limit makes that limit the likely killer. */
const DEATH_NEAR_LIMIT = 0.9
/** V8 gives up with heap used near 0.7-0.8 of its limit (the limit counts the young generation). */
const DEATH_NEAR_HEAP_LIMIT = 0.7
/**
 * The most the heap limit reserves for the young generation: 3 semi-spaces of 64 MiB on
 * Node 24 (16 MiB before). With a small old space that is most of the limit: for
 * --max-old-space-size=128 the limit is 176 MiB on Node 20 and 22 but 320 MiB on Node 24,
 * where V8 gives up at 0.4 of it. So a heap within 90% of the limit less this reservation
 * is near its end too.
 */
const YOUNG_GENERATION_MAX = 192 * MIB
const nearHeapLimit = (used, limit) =>
  used >= DEATH_NEAR_HEAP_LIMIT * limit || (limit - YOUNG_GENERATION_MAX >= 64 * MIB && used >= 0.9 * (limit - YOUNG_GENERATION_MAX))

/**
 * A figure from a file, or null: not a number, not finite, or past 2^53 (no byte count or time
 * is; 1.7e308 bytes made the timeline's axis loop forever).
 */
const num = (v) => (typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? v : null)
/** A string field from a file, or null when it is anything else (never converted: `{"toString":1}` throws). */
const str = (v) => (typeof v === 'string' ? v : null)
const obj = (v) => (v && typeof v === 'object' && !Array.isArray(v) ? v : {})
const arr = (v) => (Array.isArray(v) ? v : [])

/**
 * Text from a file, made safe to print and to embed: control, bidirectional and invisible
 * format characters shown as \uXXXX, cut. Only a string, number or boolean is text: anything
 * else is shown as nothing (never String(v): an object's toString is the file's to choose).
 */
function clean(v, max = LIMITS.textChars) {
  let s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : ''
  if (s.length > max) s = `${s.slice(0, max)}…`
  return s.replace(
    /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
}

/**
 * An exception this package did not expect, for a message that names a file: its class and
 * where in lib/ it was thrown (`TypeError at lib/cli/inspect/verdict.js:88`), never its message,
 * which can quote the file's text.
 */
function unexpected(e) {
  const name = typeof e?.name === 'string' ? e.name.replace(/[^A-Za-z]/g, '').slice(0, 40) : ''
  const at = typeof e?.stack === 'string' ? /[\\/](lib[\\/][\w\\/.-]+\.js:\d+)/.exec(e.stack) : null
  return `${name || 'an error'}${at ? ` at ${at[1].replace(/\\/g, '/')}` : ''}`
}

/**
 * A line that names a file, as it is printed: the home directory as `~` (the rule bundle
 * redacts by, lib/rules/places.js), so that output pasted into a bug report does not carry it.
 */
function tilde(line) {
  // Not a home of `/` (some containers'), which would turn every path into `~`.
  const home = os.homedir().replace(/[\\/]+$/, '')
  return home.length >= 2 ? replaceHome(line, home).text : line
}

/** Epoch ms from an ISO string or a number, or null when it is not a usable time. */
function timeOf(v) {
  const ms = typeof v === 'string' && v.length <= 40 ? Date.parse(v) : num(v)
  // Dates outside years 1970-9999 are damage, not times.
  return ms != null && Number.isFinite(ms) && ms >= 0 && ms < 253402300800000 ? ms : null
}
const iso = (ms) => (ms == null ? '?' : new Date(ms).toISOString())
const clock = (ms) => iso(ms).replace('T', ' ').replace('Z', ' UTC')

function sizeText(b) {
  if (b == null) return '?'
  const neg = b < 0 ? '-' : ''
  b = Math.abs(b)
  if (b >= 100 * GIB) return `${neg}${fixed(b / GIB, 0)} GiB`
  if (b >= 2 * GIB) return `${neg}${fixed(b / GIB, 1)} GiB`
  return `${neg}${fixed(b / MIB, 0)} MiB`
}
const mib = sizeText

module.exports = {
  DEATH_NEAR_LIMIT,
  GIB,
  LIMITS,
  MIB,
  SAME_RECORDED_START_MS,
  SAME_START_MS,
  arr,
  clean,
  clock,
  iso,
  mib,
  nearHeapLimit,
  num,
  obj,
  sizeText,
  str,
  tilde,
  timeOf,
  unexpected,
}
