'use strict'
// Which frame of a stack or an allocation path is the host's code: where `inspect` stops its
// blame (lib/cli/inspect/verdict.js) and what telemetry names as the blocking function or the
// top allocation site (lib/dumper/telemetry.js). Frames are `{ function, script, line }`.

const path = require('node:path')

/** A script as text names it: a file by its base name; `node:`, `data:` and `blob:` as they are (already redacted). */
const shortScript = (script) => (/^(?:node|data|blob):/.test(script) ? script : path.basename(script))

/** A frame's place, `file:line` (the line when known). */
const placeOf = (f) => `${shortScript(f.script)}${f.line != null ? `:${f.line}` : ''}`

/** Node's own code, or a frame V8 gives no script: where the blame does not stop. */
const isInternal = (f) => f.script === '' || f.script.startsWith('node:') || f.script.startsWith('internal/')

/** The innermost frame of the host's own code, else the innermost frame, else null. */
const blockingFrame = (frames) => frames.find((f) => !isInternal(f)) ?? frames[0] ?? null

module.exports = { blockingFrame, isInternal, placeOf, shortScript }
