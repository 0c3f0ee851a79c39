'use strict'
// How a recorder trail's `exit` record says the process ended (docs/schema.md), in the few
// lines both `inspect`'s verdict (lib/cli/inspect/verdict.js) and the next start's
// `previousRun()` need: the next start tells a clean end from this alone, without loading
// the verdict, so that the usual start (the last run exited cleanly) stays cheap.

/** True when the record tells a death: an uncaught exception, an unhandled rejection or a non-zero exit code. */
const endsInError = (rec) => rec.how === 'uncaughtException' || rec.how === 'unhandledRejection' || (Number.isInteger(rec.code) && rec.code !== 0)

/**
 * True when a trail whose last record is `rec` ended cleanly: an exit record that is neither
 * a session reset (the next session's file goes on), nor a dumper released while the process
 * went on (how it ended is unknown), nor an error.
 */
const cleanEnd = (rec) => rec != null && rec.type === 'exit' && rec.reason !== 'sessionReset' && rec.reason !== 'released' && !endsInError(rec)

module.exports = { cleanEnd, endsInError }
