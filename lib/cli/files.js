'use strict'
// Opening a file named in a directory we were handed (a bug report's diagnostics, a bundle)
// without trusting it: only a regular file is read. A symbolic link named like a dump can
// point anywhere (inspect once printed the first bytes of /etc/shadow in a JSON error), a
// FIFO blocks open() and read() until a writer comes, a device never ends. Shared by
// inspect (lib/cli/inspect/read.js), bundle (lib/cli/bundle/bundle.js) and the bundle
// reader (lib/cli/zip/read.js), so that all three refuse the same files in the same words.

const fs = require('node:fs')

// Where the platform has them (not on Windows, which has neither FIFOs nor O_NOFOLLOW links).
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0

const LINK = 'a symbolic link (never followed)'

/** What a file that is not a regular one is, for the message that skips it. */
function kindOf(st) {
  if (st.isSymbolicLink()) return LINK
  if (st.isFIFO()) return 'a FIFO, not a regular file'
  if (st.isSocket()) return 'a socket, not a regular file'
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device, not a regular file'
  return 'not a regular file'
}

/** An fs error as words: its code, never its message (which repeats the path). */
function reason(e) {
  if (e.code === 'ENOENT') return 'no such file or directory'
  if (e.code === 'EISDIR') return 'it is a directory'
  if (e.code === 'EACCES' || e.code === 'EPERM') return 'permission denied'
  return String(e.code ?? e.name ?? 'error').slice(0, 40)
}

/**
 * `file` opened for reading as `{ fd, size, mtimeMs }`, or `{ error }` naming why not. Looked
 * at first (lstat: a link, FIFO, socket or device is never opened), then opened with
 * O_NOFOLLOW and O_NONBLOCK and looked at again through the descriptor (fstat): a link or a
 * FIFO put in its place in between is refused too, and the open never blocks.
 */
function openRegular(file) {
  let st
  try {
    st = fs.lstatSync(file)
  } catch (e) {
    return { error: `cannot read: ${reason(e)}` }
  }
  if (st.isDirectory()) return { error: 'cannot read: it is a directory' }
  if (!st.isFile()) return { error: `skipped: ${kindOf(st)}` }
  let fd
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
  } catch (e) {
    // ELOOP (EMLINK on FreeBSD): a link appeared after the lstat.
    return { error: e.code === 'ELOOP' || e.code === 'EMLINK' ? `skipped: ${LINK}` : `cannot read: ${reason(e)}` }
  }
  try {
    const now = fs.fstatSync(fd)
    if (now.isFile() && now.ino === st.ino && now.dev === st.dev) return { fd, size: now.size, mtimeMs: now.mtimeMs }
    fs.closeSync(fd)
    return { error: 'skipped: replaced while being read' }
  } catch (e) {
    fs.closeSync(fd)
    return { error: `cannot read: ${reason(e)}` }
  }
}

/** The first `n` bytes of an open file (fewer at its end). */
function readHead(fd, n) {
  const buf = Buffer.alloc(n)
  let got = 0
  while (got < n) {
    const k = fs.readSync(fd, buf, got, n - got, got)
    if (!k) break
    got += k
  }
  return got < n ? buf.subarray(0, got) : buf
}

/**
 * A regular file's bytes (`{ data, mtimeMs }`), or `{ error }`, or `{ tooLarge: size }` when it
 * is over `limit` bytes (then nothing is read; the caller words the limit). A file that grows
 * while it is read (a live recorder trail) is read up to the size it had when it was opened.
 */
function readRegular(file, limit) {
  const f = openRegular(file)
  if (f.error) return f
  try {
    if (f.size > limit) return { tooLarge: f.size }
    return { data: readHead(f.fd, f.size), mtimeMs: f.mtimeMs }
  } catch (e) {
    return { error: `cannot read: ${reason(e)}` }
  } finally {
    fs.closeSync(f.fd)
  }
}

module.exports = { kindOf, openRegular, readHead, readRegular, reason }
