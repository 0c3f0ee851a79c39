'use strict'
// Twin of src/writer/names.rs; shared by the fallback writer, inspect and bundle.
// Which of a directory's files are ours, and of what kind: the rule of src/writer/
// (`parse_dump_name`, `parse_heap_name`, `is_recorder_name`, `parse_temp_name`), through
// the patterns contract.json carries. tests/fixtures/golden/names.json (written by cargo
// test) lists accepted and rejected names; the fallback's writer, `inspect` and `bundle`
// all ask this file. A name that is not ours is never read, moved or removed.

const CONTRACT = require('../contract.json')
const F = CONTRACT.files

const DUMP_NAME = new RegExp(F.dumpName)
const HEAP_NAME = new RegExp(F.heapName)
const RECORDER_NAME = new RegExp(F.recorderName)
const TEMP_NAME = new RegExp(F.tempName)

/** 'dump', 'heap', 'recorder', 'tempLocked', 'tempAged' or null (not ours). */
function nameKind(name) {
  if (DUMP_NAME.test(name)) return 'dump'
  if (HEAP_NAME.test(name)) return 'heap'
  if (RECORDER_NAME.test(name)) return 'recorder'
  if (TEMP_NAME.test(name)) return name.endsWith(`${F.tempSuffix}`) && /\.L[0-9A-Fa-f]+\.tmp$/.test(name) ? 'tempLocked' : 'tempAged'
  return null
}

// What `inspect` reads: any name with a dump's or a recorder's prefix and suffix. Reading
// is harmless, and other versions of the writer spelled session ids and collision
// suffixes differently (`-<n>-<k>.json`); writing, sweeping and bundling use the strict
// names above.
const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const READABLE_DUMP_NAME = new RegExp(`^${reEscape(F.dumpPrefix)}.+${reEscape(F.dumpSuffix)}$`)
const READABLE_RECORDER_NAME = new RegExp(`^${reEscape(F.recorderPrefix)}.+${reEscape(F.recorderSuffix)}(${reEscape(F.rotatedSuffix)})?$`)

/**
 * The short session id a dumper names its files with (src/config/dumper.rs's `short_session_id`):
 * the session id's first `sessionShortLen` characters of [A-Za-z0-9_], or `noSessionShort`
 * when none is left.
 */
function shortSessionId(id) {
  const short = [...String(id)]
    .filter((c) => /^[A-Za-z0-9_]$/.test(c))
    .slice(0, CONTRACT.options.sessionShortLen)
    .join('')
  return short || CONTRACT.options.noSessionShort
}

module.exports = { shortSessionId, DUMP_NAME, HEAP_NAME, RECORDER_NAME, TEMP_NAME, READABLE_DUMP_NAME, READABLE_RECORDER_NAME, nameKind }
