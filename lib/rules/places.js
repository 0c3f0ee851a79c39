'use strict'
// Twin of src/places.rs; shared by the loader, allocation profiles, inspect and bundle.
// The one rule for a name from the runtime (a stack frame's or an allocation site's script
// and function, the frame an uncaught error was thrown at): the twin of src/places.rs, which
// documents it and writes tests/fixtures/golden/places.json that holds both to the same
// output. `data:`, `blob:` and `javascript:` URLs keep their scheme, media type and length
// only; query strings, fragments and credentials are dropped; file URLs become their decoded
// path; the home directory becomes `~` where a separator or the end follows it, however a
// URL encoder spelled it, a Windows-style one with either separator and in either ASCII case.
// `redactText` is the rule for a text that may hold URLs anywhere, which `bundle` runs over
// every string it packs (a second line of defence, so that a bundle made from an older
// version's dumps is safe too).

const OPAQUE = ['data:', 'blob:', 'javascript:']

const isAlpha = (c) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
const isDigit = (c) => c >= 0x30 && c <= 0x39
const isAlnum = (c) => isAlpha(c) || isDigit(c)
const isSchemeChar = (c) => isAlnum(c) || c === 0x2b || c === 0x2e || c === 0x2d
const lowerAscii = (s) => (/[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s)
const utf8Length = (s) => Buffer.byteLength(s, 'utf8')
// Rust's char::is_whitespace (White_Space), as the twin tests it.
const isSpace = (ch) => (/^\s$/u.test(ch) && ch !== '\ufeff') || ch === '\u0085'

/** The index of `needle` (ASCII, lower case) in `hay` ignoring ASCII case; -1 when absent. */
function findCi(hay, needle) {
  return lowerAscii(hay).indexOf(needle)
}

/** How far a `data:` URL's head (media type and parameters) is looked at for its comma. */
const DATA_HEAD_CHARS = 64

/** `C:` followed by the end or a separator. */
function isDrivePath(s) {
  return s.length >= 2 && isAlpha(s.charCodeAt(0)) && s[1] === ':' && (s.length === 2 || s[2] === '/' || s[2] === '\\')
}

/** The length of a URL scheme at the start of `s`, if followed by `:`; one letter is a drive. */
function schemeLen(s) {
  if (!s.length || !isAlpha(s.charCodeAt(0))) return null
  let n = 0
  while (n < s.length && isSchemeChar(s.charCodeAt(n))) n++
  return n >= 2 && s[n] === ':' ? n : null
}

/** `type/subtype` of a `data:` URL's head, lower-cased; '' when it is not one. */
function mediaType(head) {
  const t = head.split(';')[0]
  return /^[A-Za-z0-9.+-]+\/[A-Za-z0-9.+-]+$/.test(t) && t.length <= 64 ? lowerAscii(t) : ''
}

function alreadyOpaque(rest, media) {
  const m = /^(.*) \[(\d+) bytes\]$/s.exec(rest)
  if (!m) return null
  const kind = m[1]
  return (media ? kind === '' || mediaType(kind) === kind : kind === '') ? rest : null
}

/** An opaque URL as `<scheme><media type> [<n> bytes]`; one already in that form is kept. */
function opaque(scheme, rest, media) {
  const kept = alreadyOpaque(rest, media)
  if (kept !== null) return scheme + kept
  const comma = rest.indexOf(',')
  const [head, content] = media && comma >= 0 ? [rest.slice(0, comma), rest.slice(comma + 1)] : ['', rest]
  return `${scheme}${mediaType(head)} [${utf8Length(content)} bytes]`
}

/** Splits `s` at the first opaque URL: `[before, the URL as kept]`; `text` asks for a URL's shape. */
function splitOpaque(s, text) {
  const lower = lowerAscii(s)
  let best = null
  for (const scheme of OPAQUE) {
    let from = 0
    for (;;) {
      const at = lower.indexOf(scheme, from)
      if (at < 0) break
      from = at + scheme.length
      const boundary = at === 0 || !isSchemeChar(s.charCodeAt(at - 1))
      let shaped = true
      if (text) {
        const first = s.codePointAt(from)
        if (scheme === 'data:') {
          // A comma within the head's first characters, with no space before it.
          shaped = false
          let k = from
          for (let n = 0; n < DATA_HEAD_CHARS && k < s.length; n++) {
            const ch = String.fromCodePoint(s.codePointAt(k))
            if (ch === ',') {
              shaped = true
              break
            }
            if (isSpace(ch)) break
            k += ch.length
          }
        } else shaped = first !== undefined && !isSpace(String.fromCodePoint(first))
      }
      if (boundary && shaped) {
        if (best === null || at < best.at) best = { at, scheme }
        break
      }
    }
  }
  if (best === null) return [s, '']
  return [s.slice(0, best.at), opaque(best.scheme, s.slice(best.at + best.scheme.length), best.scheme === 'data:')]
}

const isUserStop = (ch) => isSpace(ch) || '/\\([<"\',;@'.includes(ch)
/** `s` without credentials: the run before each `@` when it follows `//` or holds a `:`. */
function dropUserinfo(s) {
  if (!s.includes('@')) return s
  let out = ''
  let rest = s
  for (;;) {
    const at = rest.indexOf('@')
    if (at < 0) break
    let start = at
    while (start > 0 && !isUserStop(rest[start - 1])) start--
    // A surrogate pair is never a stop character, so stepping by code units is safe here.
    const run = rest.slice(start, at)
    const authority = rest.slice(0, start).endsWith('//')
    if (run.length && (authority || run.includes(':'))) out += rest.slice(0, start)
    else out += rest.slice(0, at + 1)
    rest = rest.slice(at + 1)
  }
  return out + rest
}

const hexOf = (c) => (isDigit(c) ? c - 0x30 : (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 ? (c | 0x20) - 0x61 + 10 : -1)

/** `%XX` decoded to bytes, read as UTF-8 (invalid sequences as U+FFFD); a stray `%` kept. */
function percentDecode(s) {
  const src = Buffer.from(s, 'utf8')
  const out = Buffer.alloc(src.length)
  let n = 0
  for (let i = 0; i < src.length; i++) {
    if (src[i] === 0x25 && i + 2 < src.length) {
      const h = hexOf(src[i + 1])
      const l = hexOf(src[i + 2])
      if (h >= 0 && l >= 0) {
        out[n++] = h * 16 + l
        i += 2
        continue
      }
    }
    out[n++] = src[i]
  }
  return out.subarray(0, n).toString('utf8')
}

const isSep = (c) => c === 0x2f || c === 0x5c
/** The length of a separator at `bytes[i]`: `/`, `\`, `%2F` or `%5C` in either case; 0 if none. */
function sepLen(bytes, i) {
  if (i >= bytes.length) return 0
  if (isSep(bytes[i])) return 1
  if (bytes[i] === 0x25 && i + 2 < bytes.length) {
    const h = bytes[i + 1]
    const l = bytes[i + 2] & ~0x20
    if ((h === 0x32 && l === 0x46) || (h === 0x35 && l === 0x43)) return 3
  }
  return 0
}

/**
 * The byte length of a match of `pattern` at `bytes[at]`, or -1, as the Rust twin compares: a
 * separator matches any separator, any other byte itself or its `%XX` spelling, ASCII letters
 * either case when `fold`.
 */
function matchAt(bytes, at, pattern, fold) {
  let i = at
  const same = (a, b) => a === b || (fold && isAlpha(a) && isAlpha(b) && (a | 0x20) === (b | 0x20))
  for (const a of pattern) {
    if (isSep(a)) {
      const n = sepLen(bytes, i)
      if (n === 0) return -1
      i += n
      continue
    }
    if (i >= bytes.length) return -1
    if (same(a, bytes[i])) {
      i++
      continue
    }
    if (bytes[i] === 0x25 && i + 2 < bytes.length) {
      const h = hexOf(bytes[i + 1])
      const l = hexOf(bytes[i + 2])
      if (h >= 0 && l >= 0 && same(a, h * 16 + l)) {
        i += 3
        continue
      }
    }
    return -1
  }
  // The match must end on a character boundary (not inside a multi-byte character).
  return i < bytes.length && (bytes[i] & 0xc0) === 0x80 ? -1 : i - at
}

/** `text` with every occurrence of `home` (plain or percent-encoded) that a separator or the end follows as `~`: `{ text, count }`. */
function replaceHome(text, home) {
  if (typeof home !== 'string' || typeof text !== 'string') return { text, count: 0 }
  const h = home.replace(/[\\/]+$/, '')
  if (Array.from(h).length < 2) return { text, count: 0 }
  const windows = h.includes('\\') || isDrivePath(h)
  // Most strings hold no home at all: a cheap look for its last component (or a `%`, which
  // may spell it) first.
  const tail = lowerAscii(h.slice(Math.max(h.lastIndexOf('/'), h.lastIndexOf('\\')) + 1))
  if (!text.includes('%') && !lowerAscii(text).includes(tail)) return { text, count: 0 }
  const form = Buffer.from(h, 'utf8')
  const bytes = Buffer.from(text, 'utf8')
  const chars = Array.from(text)
  let out = ''
  let count = 0
  let i = 0
  let ci = 0
  // Whether `out` ends with a `~` (kept apart: asking a long built string would flatten it each time).
  let afterTilde = false
  while (ci < chars.length) {
    if (!afterTilde) {
      const n = matchAt(bytes, i, form, windows)
      const end = i + n
      if (n >= 0 && (end === bytes.length || sepLen(bytes, end) > 0)) {
        out += '~'
        count++
        afterTilde = true
        while (i < end) i += utf8Length(chars[ci++])
        continue
      }
    }
    const c = chars[ci++]
    out += c
    afterTilde = c === '~'
    i += utf8Length(c)
  }
  return { text: out, count }
}

/** A place with the rule applied; `home` is shown as `~` (none, or a one-character one, is not matched). */
function placeOnce(place, home) {
  if (typeof place !== 'string') return ''
  let p = place
  if (p.startsWith('\\\\?\\') || p.startsWith('//?/')) p = p.slice(4)
  const split = splitOpaque(p, false)
  let head = split[0]
  let tail = split[1]
  const cut = head.search(/[?#]/)
  if (cut >= 0) {
    head = head.slice(0, cut)
    tail = ''
  }
  head = dropUserinfo(head)
  let path = head
  const n = schemeLen(head)
  if (n !== null && head.startsWith('://', n) && lowerAscii(head.slice(0, n)) === 'file') {
    const after = head.slice(n + 3)
    const s = after.search(/[/\\]/)
    const authEnd = s >= 0 ? s : after.length
    const host = after.slice(0, authEnd)
    let decoded = percentDecode(after.slice(authEnd))
    const q = decoded.search(/[?#]/)
    if (q >= 0) decoded = decoded.slice(0, q)
    const local = decoded.startsWith('/') && isDrivePath(decoded.slice(1)) ? decoded.slice(1) : decoded
    path = host === '' || lowerAscii(host) === 'localhost' ? local : `//${host}${local}`
  }
  return replaceHome(path, home).text + tail
}

/**
 * A text that may hold URLs anywhere, with the rule applied to each: an opaque URL takes the
 * rest of the text with it; a `scheme://` URL runs to the next space, quote or angle bracket;
 * then credentials anywhere and the home directory. A text whose `://` is percent-encoded is
 * decoded first when the rule changes it.
 */
function redactText(text, home) {
  if (typeof text !== 'string') return text
  // No URL, credentials or encoding can be in a text without any of these.
  if (!/[:@%]/.test(text)) return replaceHome(text, home).text
  const once = (t) => {
    const [head, tail] = splitOpaque(t, true)
    let out = ''
    let rest = head
    for (;;) {
      const i = rest.indexOf('://')
      if (i < 0) break
      let start = i
      while (start > 0 && isSchemeChar(rest.charCodeAt(start - 1))) start--
      let end = rest.length
      for (let k = i + 3; k < rest.length; k++) {
        const ch = rest[k]
        if (isSpace(ch) || ch === '"' || ch === "'" || ch === '<' || ch === '>') {
          end = k
          break
        }
      }
      out += rest.slice(0, start)
      const url = rest.slice(start, end)
      out += schemeLen(url) === i - start ? placeOnce(url, null) : url
      rest = rest.slice(end)
    }
    out += rest
    return replaceHome(dropUserinfo(out), home).text + tail
  }
  const plain = once(text)
  if (findCi(plain, '%3a%2f%2f') >= 0) {
    // The text as given: its encoded home is matched again, decoded (a `file:` URL whose
    // home was already `~` would name a host `~`).
    const decoded = percentDecode(text)
    const again = once(decoded)
    if (again !== decoded) return again
  }
  return plain
}

/**
 * A place with the rule applied (src/places.rs says the rule). One whose `://` is
 * percent-encoded (`https%3A%2F%2Fuser%3Apass%40h%2Fapp.js%3Fq%3DT`) is decoded first when
 * the rule changes it, so its credentials and query go as they would unencoded.
 */
function redactPlace(place, home) {
  const plain = placeOnce(place, home)
  if (findCi(plain, '%3a%2f%2f') < 0) return plain
  // The place as given: its encoded home is matched again, decoded.
  const decoded = percentDecode(place)
  const again = placeOnce(decoded, home)
  return again !== decoded ? again : plain
}

/** `redactText` without the home directory, with whether it changed anything: `{ text, count }`. */
function redactUrls(text) {
  const out = redactText(text, null)
  return { text: out, count: out === text ? 0 : 1 }
}

module.exports = { redactPlace, redactText, replaceHome, redactUrls }
