'use strict'
// Where a .zip's entries are, from its central directory, every offset checked against the
// file before it is used: a bundle is a file someone sent, and a zip can lie. The number of
// entries is bounded before any is looked at (a ZIP64 directory can claim 2^64 of them);
// every entry's bytes must lie in the file, before the directory; and no two entries may
// share bytes, which no writer does and a zip bomb does (1,000 entries over one deflate
// stream of 100 MiB of zeros make a 190 KB file that unpacks to 100 GiB). What an entry
// unpacks to is not known here: read.js counts it as it inflates.

const SIGNATURE = { local: 0x04034b50, central: 0x02014b50, end: 0x06054b50, zip64End: 0x06064b50, zip64Locator: 0x07064b50 }
const END_BYTES = 22
const CENTRAL_BYTES = 46
const LOCAL_BYTES = 30
/** A 32-bit size or offset that says "see the ZIP64 field": more than this reader reads. */
const ZIP64_MARK = 0xffffffff

/** Where the end-of-central-directory record is (it ends the file, after its comment), or -1. */
function findEnd(buf) {
  const last = buf.length - END_BYTES
  for (let i = last; i >= 0 && i >= last - 0xffff; i--) {
    if (buf.readUInt32LE(i) === SIGNATURE.end && i + END_BYTES + buf.readUInt16LE(i + 20) === buf.length) return i
  }
  return -1
}

/** The directory's entry count, size and offset: from the end record, or its ZIP64 twin. */
function directoryOf(buf, end) {
  const d = { count: buf.readUInt16LE(end + 10), size: buf.readUInt32LE(end + 12), offset: buf.readUInt32LE(end + 16) }
  const zip64 = d.count === 0xffff || d.size === ZIP64_MARK || d.offset === ZIP64_MARK
  if (!zip64 || end < 20 || buf.readUInt32LE(end - 20) !== SIGNATURE.zip64Locator) return d
  // 64-bit fields, as Numbers: a claim past 2^53 is still far past every limit.
  const at = Number(buf.readBigUInt64LE(end - 12))
  if (at + 56 > end - 20 || buf.readUInt32LE(at) !== SIGNATURE.zip64End) return { error: 'a damaged ZIP64 end of central directory' }
  return { count: Number(buf.readBigUInt64LE(at + 32)), size: Number(buf.readBigUInt64LE(at + 40)), offset: Number(buf.readBigUInt64LE(at + 48)) }
}

/**
 * The entries of the zip in `buf`: `{ entries: [{ name, method, encrypted, data }] }` with
 * `data` the stored or compressed bytes (null for an entry whose sizes need ZIP64, over any
 * limit here), or `{ error }` in words that never quote the file. More than `maxEntries` listed
 * is refused before any entry is read: the entries a reader skips cost it too.
 */
function entriesOf(buf, maxEntries) {
  const end = findEnd(buf)
  if (end < 0) return { error: 'no end of central directory (truncated, or not a zip)' }
  const dir = directoryOf(buf, end)
  if (dir.error) return dir
  if (dir.count > maxEntries) return { error: `it lists ${dir.count} entries; this reader reads at most ${maxEntries}` }
  if (dir.offset + dir.size > end) return { error: 'its central directory lies outside the file (truncated?)' }
  const stop = dir.offset + dir.size
  const entries = []
  for (let k = 0, p = dir.offset; k < dir.count; k++) {
    const where = `entry ${k + 1} of ${dir.count}`
    if (p + CENTRAL_BYTES > stop || buf.readUInt32LE(p) !== SIGNATURE.central) return { error: `its central directory ends before ${where}` }
    const nameEnd = p + CENTRAL_BYTES + buf.readUInt16LE(p + 28)
    const next = nameEnd + buf.readUInt16LE(p + 30) + buf.readUInt16LE(p + 32)
    if (next > stop) return { error: `${where} runs past the central directory` }
    const e = {
      name: buf.toString('utf8', p + CENTRAL_BYTES, nameEnd),
      encrypted: (buf.readUInt16LE(p + 8) & 1) === 1,
      method: buf.readUInt16LE(p + 10),
      crc: buf.readUInt32LE(p + 16),
      compressed: buf.readUInt32LE(p + 20),
      size: buf.readUInt32LE(p + 24),
      local: buf.readUInt32LE(p + 42),
      where,
    }
    entries.push(e)
    p = next
  }
  return place(buf, entries, dir.offset)
}

/** Each entry's bytes, found through its local header; refused if outside the file or shared. */
function place(buf, entries, directoryStart) {
  const spans = []
  for (const e of entries) {
    e.data = null
    if (e.compressed === ZIP64_MARK || e.local === ZIP64_MARK) continue
    if (e.local + LOCAL_BYTES > directoryStart || buf.readUInt32LE(e.local) !== SIGNATURE.local)
      return { error: `${e.where} has no local header where it says` }
    const start = e.local + LOCAL_BYTES + buf.readUInt16LE(e.local + 26) + buf.readUInt16LE(e.local + 28)
    if (start + e.compressed > directoryStart) return { error: `${e.where} lies outside the file (truncated?)` }
    e.data = buf.subarray(start, start + e.compressed)
    spans.push({ from: e.local, to: start + e.compressed, where: e.where })
  }
  spans.sort((a, b) => a.from - b.from)
  for (let k = 1; k < spans.length; k++) {
    if (spans[k].from < spans[k - 1].to) return { error: `${spans[k - 1].where} and ${spans[k].where} share bytes (a zip bomb's trick; no writer does that)` }
  }
  return { entries: entries.map(({ where, compressed, local, ...e }) => e) }
}

module.exports = { entriesOf }
