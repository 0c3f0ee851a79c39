'use strict'
// Twin of src/writer/.
// Diagnostics files for the JS fallback: names, the directory, the write path (temp file,
// fsync, link), retention and the sweep of stale temporary files. The twin of src/writer/;
// the name patterns come from contract.json and the accepted and rejected names from
// tests/fixtures/golden/names.json.

const fs = require('node:fs')
const path = require('node:path')
const crypto = require('node:crypto')
const CONTRACT = require('../contract.json')

const STALE_TEMP_AGE_MS = CONTRACT.files.staleTempAgeMs

const { DUMP_NAME, nameKind } = require('../rules/names')
const { futureToleranceMs: FUTURE_TOLERANCE_MS, maxNameAttempts: MAX_NAME_ATTEMPTS } = CONTRACT.files

function parseDumpName(name) {
  const m = DUMP_NAME.exec(name)
  if (!m || (m[4] !== undefined && Number(m[4]) < 2)) return null
  return { session: m[1], stamp: m[2], number: Number(m[3]), copy: m[4] === undefined ? 1 : Number(m[4]) }
}

/** The k-th name to try for a dump whose first choice is `base` (k >= 2: `-<n>.<k>.json`). */
function candidateName(base, k) {
  const suffix = CONTRACT.files.dumpSuffix
  return k <= 1 ? base : `${base.slice(0, -suffix.length)}.${k}${suffix}`
}

/**
 * Creates `dir` and its missing parents one at a time. Not `mkdirSync({ recursive: true })`:
 * under /proc (where mkdir fails with ENOENT on an existing parent) Node's recursive
 * mkdir loops forever.
 */
function mkdirs(dir) {
  const missing = []
  for (let d = path.resolve(dir); !fs.existsSync(d); ) {
    missing.unshift(d)
    const up = path.dirname(d)
    if (up === d) break
    d = up
  }
  for (const d of missing) {
    try {
      fs.mkdirSync(d, { mode: 0o700 })
    } catch (e) {
      if (e.code !== 'EEXIST') throw e
    }
  }
}

/**
 * Creates the directory (0700) or makes an existing one safe: refused when it is not a
 * directory, is another user's, or is a sticky shared directory writable by others; a
 * directory of ours that group or others may write to is tightened to 0700 through an
 * open handle. Returns the old mode when it tightened, else null.
 */
function prepareDir(dir) {
  // The usual case, the directory exists: no mkdir.
  if (!fs.existsSync(dir)) {
    try {
      mkdirs(dir)
    } catch (e) {
      throw new Error(`could not create diagnostics directory ${dir}: ${e.message}`)
    }
  }
  // One stat, no descriptor, in the usual case.
  const checked = (st) => {
    if (!st.isDirectory()) throw new Error(`could not use diagnostics directory ${dir}: the path exists and is not a directory`)
    if (typeof process.geteuid === 'function' && st.uid !== process.geteuid()) {
      throw new Error(`could not use diagnostics directory ${dir}: it is owned by uid ${st.uid}, not by this process's uid ${process.geteuid()}`)
    }
    return st
  }
  let st
  try {
    st = fs.statSync(dir)
  } catch (e) {
    throw new Error(`could not inspect diagnostics directory ${dir}: ${e.message}`)
  }
  checked(st)
  const mode = st.mode & 0o7777
  if (typeof process.geteuid !== 'function' || !(mode & 0o022)) return null
  if (mode & 0o1000) {
    throw new Error(
      `could not use diagnostics directory ${dir}: it is a shared sticky directory writable by group or others (mode ${mode.toString(8)}); use a private subdirectory`,
    )
  }
  // Tightened through a handle checked to be the same directory.
  let fd
  try {
    fd = fs.openSync(dir, 'r')
  } catch (e) {
    throw new Error(`could not inspect diagnostics directory ${dir}: ${e.message}`)
  }
  try {
    const opened = checked(fs.fstatSync(fd))
    if (opened.dev !== st.dev || opened.ino !== st.ino)
      throw new Error(`could not use diagnostics directory ${dir}: it was replaced while it was being checked`)
    try {
      fs.fchmodSync(fd, 0o700)
    } catch (e) {
      throw new Error(`could not tighten diagnostics directory to mode 0700 ${dir}: ${e.message}`)
    }
    return opened.mode & 0o7777
  } finally {
    fs.closeSync(fd)
  }
}

const CREATE_FLAGS = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | (fs.constants.O_NOFOLLOW || 0)

/** A temporary name no other writer (any process, namespace or host) will pick. */
function tempPath(dir, finalName) {
  return path.join(dir, `.${finalName}.A${crypto.randomBytes(8).toString('hex')}.tmp`)
}

/**
 * Phase 1: a temporary file, then a no-replace link to the first free name from `base`
 * (`link()` never replaces), no fsync. Returns the name taken and the file's identity.
 */
function writeNewSync(dir, base, text) {
  const tmp = tempPath(dir, base)
  let step = 'create temporary file'
  let at = tmp
  try {
    const fd = fs.openSync(tmp, CREATE_FLAGS, 0o600)
    let id
    try {
      step = 'write temporary file'
      fs.writeSync(fd, text)
      const st = fs.fstatSync(fd)
      id = { dev: st.dev, ino: st.ino }
    } finally {
      fs.closeSync(fd)
    }
    step = 'link into place'
    for (let k = 1; k <= MAX_NAME_ATTEMPTS; k++) {
      const name = candidateName(base, k)
      at = path.join(dir, name)
      try {
        fs.linkSync(tmp, at)
        return { name, id }
      } catch (e) {
        if (e.code !== 'EEXIST') throw e
      }
    }
    step = 'find a free name for'
    throw new Error(`${MAX_NAME_ATTEMPTS} names taken`)
  } catch (e) {
    throw new Error(`could not ${step} ${at}: ${e.message}`)
  } finally {
    try {
      fs.unlinkSync(tmp)
    } catch {}
  }
}

/**
 * Phase 2: temporary file, fsync, rename over the final name (only while it still holds
 * this dump's phase-1 file `id`), fsync of the directory.
 */
async function replaceOwn(dir, finalName, id, text) {
  const fsp = fs.promises
  const tmp = tempPath(dir, finalName)
  const finalPath = path.join(dir, finalName)
  let step = 'create temporary file'
  try {
    const fh = await fsp.open(tmp, CREATE_FLAGS, 0o600)
    try {
      step = 'write temporary file'
      await fh.writeFile(text)
      step = 'fsync temporary file'
      await fh.sync()
    } finally {
      await fh.close()
    }
    step = 'replace'
    let st
    try {
      st = await fsp.lstat(finalPath)
    } catch (e) {
      if (e.code === 'ENOENT') throw new Error('the phase-1 file was removed before phase 2 (retention)')
      throw e
    }
    if (st.dev !== id.dev || st.ino !== id.ino) throw new Error("the name no longer holds this dump's phase-1 file")
    step = 'rename into place'
    await fsp.rename(tmp, finalPath)
  } catch (e) {
    await fsp.unlink(tmp).catch(() => {})
    throw new Error(`could not ${step} ${step === 'rename into place' || step === 'replace' ? finalPath : tmp}: ${e.message}`)
  }
  // Windows cannot fsync a directory (FlushFileBuffers on a directory handle opened for
  // reading fails with EPERM); the native writer skips it there too.
  if (process.platform === 'win32') return
  try {
    const d = await fsp.open(dir, 'r')
    try {
      await d.sync()
    } catch (e) {
      if (e.code !== 'EINVAL') throw new Error(`could not fsync directory ${dir}: ${e.message}`)
    } finally {
      await d.close()
    }
  } catch (e) {
    if (e.message.startsWith('could not')) throw e
  }
}

/** `2026-11-24T12-07-55-123Z` for an epoch time. */
function fileStamp(ms) {
  return new Date(ms).toISOString().replace(/[:.]/g, '-')
}

/**
 * The dumps among `names` that retention removes, in the order it removes them (the rule
 * of src/writer/retention.rs `dumps_to_remove`, held to tests/fixtures/golden/retention.json):
 * oldest first by the time in the name, then number, copy and session; a name dated more
 * than a minute ahead of `nowMs` (written by a clock that was ahead) first of all; until at
 * most `maxFiles` are left. A name in `keep` is never removed (the next oldest goes in its
 * place); names that are not dumps are neither counted nor removed.
 */
function dumpsToRemove(names, maxFiles, keep, nowMs) {
  const horizon = fileStamp(nowMs + FUTURE_TOLERANCE_MS)
  const ours = []
  for (const name of names) {
    const p = parseDumpName(name)
    if (p) ours.push({ ...p, trusted: p.stamp <= horizon, name })
  }
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0)
  ours.sort((a, b) => cmp(a.trusted, b.trusted) || cmp(a.stamp, b.stamp) || a.number - b.number || a.copy - b.copy || cmp(a.session, b.session))
  const excess = ours.length - maxFiles
  if (excess <= 0) return []
  return ours
    .filter((o) => !keep.includes(o.name))
    .slice(0, excess)
    .map((o) => o.name)
}

/**
 * Bounds the directory's dumps by `dumpsToRemove`. Recorder files are the native addon's
 * (it can tell a live one by its lock); this implementation leaves them alone.
 */
function applyRetention(dir, maxFiles, keep = []) {
  let entries
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return
  }
  const names = entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name)
  for (const name of dumpsToRemove(names, maxFiles, keep, Date.now())) {
    try {
      fs.unlinkSync(path.join(dir, name))
    } catch {}
  }
}

/**
 * Removes temporary files older than STALE_TEMP_AGE_MS, whoever wrote them. Pids are never
 * consulted (a writer in another PID namespace or on another host would look dead), and
 * no write of ours takes anywhere near that long.
 */
function sweepStaleTemps(dir) {
  let names
  try {
    names = fs.readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    // Ours by shape (src/writer/ parse_temp_name): the native addon's locked kind too,
    // which this implementation cannot test for a lock, so by age.
    if (!nameKind(name)?.startsWith('temp')) continue
    try {
      if (Date.now() - fs.lstatSync(path.join(dir, name)).mtimeMs > STALE_TEMP_AGE_MS) fs.unlinkSync(path.join(dir, name))
    } catch {}
  }
}

module.exports = { DUMP_NAME, applyRetention, dumpsToRemove, prepareDir, replaceOwn, sweepStaleTemps, writeNewSync }
