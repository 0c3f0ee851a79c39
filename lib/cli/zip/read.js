'use strict'
// Reading a bundle (`inspect FILE.zip`): the dumps and recorder files a .zip made by
// `bundle` holds, within limits, for inspect; and which names are ours. Apart from
// lib/cli/bundle/ (which writes bundles) so that inspect reads one without the writer.

const fs = require('node:fs')
const path = require('node:path')
const { openRegular, readHead, readRegular } = require('../files')
const { LIMITS: INSPECT_LIMITS } = require('../inspect/values')
const { DUMP_NAME, HEAP_NAME, RECORDER_NAME } = require('../../rules/names')

const MIB = 1024 * 1024
const LIMITS = {
  dumpBytes: INSPECT_LIMITS.dumpBytes,
  recorderBytes: INSPECT_LIMITS.recorderBytes,
  /** A bundle `inspect` reads: its own size, and what its entries may unpack to. */
  bundleBytes: 256 * MIB,
  unpackedBytes: 512 * MIB,
}

const FORMAT = 'memory-diagnostics-dumper bundle'

/** A file name is ours: a dump, a recorder trail (or its rotation), a heap snapshot. */
function kindOfName(name) {
  if (DUMP_NAME.test(name)) return 'dump'
  if (RECORDER_NAME.test(name)) return 'recorder'
  if (HEAP_NAME.test(name)) return 'heapSnapshot'
  return null
}

/** True when the file is a regular one that starts like a zip archive. */
function looksLikeBundle(file) {
  const f = openRegular(file)
  if (f.error) return false
  try {
    const head = readHead(f.fd, 4)
    return head.length === 4 && head.readUInt32LE(0) === 0x04034b50
  } catch {
    return false
  } finally {
    fs.closeSync(f.fd)
  }
}

/**
 * The dumps and recorder files in a bundle as inspect's entries (`<bundle>/<name>` with their
 * text), and a note from its manifest. Entries with other names, with directories in their
 * names, or unpacking past the limits are not read.
 */
function readBundle(file) {
  const read = readRegular(file, LIMITS.bundleBytes)
  if (read.tooLarge != null) return { error: `skipped: a bundle over ${LIMITS.bundleBytes / MIB} MiB` }
  if (read.error) return read
  const { unzipSync } = require('fflate')
  const notes = []
  let total = 0
  let unpacked
  try {
    unpacked = unzipSync(read.data, {
      filter: (f) => {
        const kind = kindOfName(f.name)
        const limit = kind === 'dump' ? LIMITS.dumpBytes : kind === 'recorder' ? LIMITS.recorderBytes : f.name === 'manifest.json' ? MIB : 0
        if (!limit) return false
        if (f.originalSize > limit || total + f.originalSize > LIMITS.unpackedBytes) {
          notes.push(`${file}: ${f.name} not read: it unpacks to more than this reader reads`)
          return false
        }
        total += f.originalSize
        return true
      },
    })
  } catch (e) {
    return { error: `not a readable bundle: ${e.message}` }
  }
  const entries = []
  for (const [name, data] of Object.entries(unpacked).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (name === 'manifest.json') {
      try {
        const m = JSON.parse(Buffer.from(data).toString('utf8'))
        if (m.format === FORMAT) notes.push(`${file}: a bundle made by memory-diagnostics-dumper ${m.producer?.version} at ${m.createdAt}; ${m.budget?.note}`)
      } catch {}
      continue
    }
    entries.push({ path: path.join(file, name), text: Buffer.from(data).toString('utf8') })
  }
  if (!entries.length) return { error: 'a zip without dump or recorder files' }
  return { entries, notes }
}

module.exports = { FORMAT, LIMITS, kindOfName, looksLikeBundle, readBundle }
