'use strict'
// Reading a bundle (`inspect FILE.zip`): the dumps and recorder files a .zip made by
// `bundle` holds, within limits, for inspect; and which names are ours. Apart from
// lib/cli/bundle/ (which writes bundles) so that inspect reads one without the writer.
// Read with node:zlib, whose inflation stops at a given output size: a zip bomb costs what
// the limits allow, never what it claims or what it holds.

const fs = require('node:fs')
const path = require('node:path')
const zlib = require('node:zlib')
const { openRegular, readHead, readRegular } = require('../files')
const { parseJson } = require('../json')
const { LIMITS: INSPECT_LIMITS, clean } = require('../inspect/values')
const { DUMP_NAME, HEAP_NAME, RECORDER_NAME } = require('../../rules/names')
const { entriesOf } = require('./central')

const MIB = 1024 * 1024
const LIMITS = {
  dumpBytes: INSPECT_LIMITS.dumpBytes,
  recorderBytes: INSPECT_LIMITS.recorderBytes,
  manifestBytes: MIB,
  /** The manifest's budget note as shown: the longest bundle writes is about 250 characters. */
  manifestNoteChars: 300,
  /** A bundle `inspect` reads: its own size, the entries it lists (read or not), and what they unpack to in all. */
  bundleBytes: 256 * MIB,
  entries: INSPECT_LIMITS.files,
  unpackedBytes: 512 * MIB,
}
/** What an entry of each kind read may unpack to; entries of other names are not read. */
const ENTRY_LIMIT = { dump: LIMITS.dumpBytes, recorder: LIMITS.recorderBytes, manifest: LIMITS.manifestBytes }
/** Entries named one by one as not read; the rest are counted. */
const NOTED_ENTRIES = 20

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
 * An entry's bytes, unpacked to at most `room` bytes: `{ data, cost }`, or `{ over, cost }`
 * past `room`, or `{ error, cost }`. `cost` is what was unpacked, counted by zlib as it
 * inflated (it stops at `room`), never what the zip claims; a damaged stream costs `room`,
 * the most it could have inflated before it failed.
 */
function unpack(e, room) {
  if (e.encrypted) return { error: 'encrypted', cost: 0 }
  if (!e.data) return { over: true, cost: 0 }
  if (e.method === 0) return e.data.length > room ? { over: true, cost: 0 } : checked(e, e.data, e.data.length)
  if (e.method !== 8) return { error: `compressed by method ${e.method}, which this reader does not read`, cost: 0 }
  try {
    const data = zlib.inflateRawSync(e.data, { maxOutputLength: room, chunkSize: 64 * 1024 })
    return checked(e, data, data.length)
  } catch (err) {
    return err.code === 'ERR_BUFFER_TOO_LARGE' ? { over: true, cost: room } : { error: 'damaged', cost: room }
  }
}

/**
 * An entry's unpacked bytes as `{ data, cost }` when they are what its central directory
 * declares (size and CRC-32), else `{ error, cost }`: damage or an edit after packing.
 */
function checked(e, data, cost) {
  if (data.length !== e.size) return { error: `damaged: it unpacks to ${data.length} bytes, not the ${e.size} it declares`, cost }
  if (crc32(data) !== e.crc) return { error: 'damaged: its CRC-32 does not match its data', cost }
  return { data, cost }
}

/** CRC-32 (IEEE, as zip uses): node:zlib's where Node has it (20.15, 22.2), else by table. */
let table
function crc32(data) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(data) >>> 0
  if (!table) {
    table = new Int32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c
    }
  }
  let c = -1
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8)
  return (c ^ -1) >>> 0
}

/**
 * The dumps and recorder files in a bundle as inspect's entries (`<bundle>/<name>` with their
 * text, or with the reason one was not read: over its kind's limit, damaged, a second of one
 * name), and a note from its manifest. Entries with other names (directories and `../` in them
 * too) are not read. A bundle is refused whole when its entries unpack to more than
 * `unpackedBytes` in all, when it lists more than `entries` (read or not), or when its entries
 * lie outside it or share bytes (./central.js).
 */
function readBundle(file) {
  const read = readRegular(file, LIMITS.bundleBytes)
  if (read.tooLarge != null) return { error: `skipped: a bundle over ${LIMITS.bundleBytes / MIB} MiB` }
  if (read.error) return read
  const listed = entriesOf(read.data, LIMITS.entries)
  if (listed.error) return { error: `not a readable bundle: ${listed.error}` }
  const entries = []
  const notes = []
  let notRead = 0
  const skip = (name, why) => {
    if (++notRead <= NOTED_ENTRIES) entries.push({ path: path.join(file, name), error: `skipped: ${why}` })
  }
  const texts = new Map()
  let total = 0
  for (const e of listed.entries) {
    const kind = e.name === 'manifest.json' ? 'manifest' : kindOfName(e.name)
    const limit = ENTRY_LIMIT[kind]
    if (!limit) continue
    if (texts.has(e.name)) {
      skip(e.name, 'a second entry of that name in the bundle')
      continue
    }
    const room = Math.min(limit, LIMITS.unpackedBytes - total)
    const out = room > 0 ? unpack(e, room) : { over: true, cost: 0 }
    total += out.cost
    if (out.over && room < limit) {
      return {
        error: `refused: its entries unpack to more than ${LIMITS.unpackedBytes / MIB} MiB in all (counted as they are inflated, not as the zip claims)`,
      }
    }
    if (out.over) skip(e.name, `it unpacks to more than ${limit / MIB} MiB, this reader's limit for this kind of file`)
    else if (out.error) skip(e.name, `its entry is ${out.error}`)
    else texts.set(e.name, out.data.toString('utf8'))
  }
  if (notRead > NOTED_ENTRIES) notes.push(`${file}: ${notRead - NOTED_ENTRIES} more entries not read`)
  const manifest = texts.has('manifest.json') ? parseJson(texts.get('manifest.json')).value : null
  texts.delete('manifest.json')
  if (manifest?.format === FORMAT) {
    // Each field read as the string it should be, cut, or named unreadable: the manifest is the sender's to write.
    const field = (v, max) => (typeof v === 'string' ? clean(v, max) : 'unreadable')
    const m = (v) => (v && typeof v === 'object' ? v : {})
    notes.unshift(
      `${file}: a bundle made by memory-diagnostics-dumper ${field(m(manifest.producer).version, 40)} at ${field(manifest.createdAt, 40)}; ${field(m(manifest.budget).note, LIMITS.manifestNoteChars)}`,
    )
  }
  for (const [name, text] of texts) entries.push({ path: path.join(file, name), text })
  if (!entries.length) return { error: 'a zip without dump or recorder files' }
  return { entries: entries.sort((a, b) => (a.path < b.path ? -1 : 1)), notes }
}

module.exports = { FORMAT, LIMITS, kindOfName, looksLikeBundle, readBundle }
