'use strict'
// The one rule for a place-name from the runtime (a stack frame's or an allocation site's
// script, the frame an uncaught error was thrown at): the twin of src/places.rs, which
// documents it and writes tests/fixtures/golden/places.json that holds both to the same
// output. Query strings, fragments and `user:password@` are dropped; `data:` and `blob:`
// URLs keep their scheme, media type and length only; file URLs become their decoded path;
// the home directory becomes `~` at a path boundary, percent-encoded or not, a Windows-style
// one with either separator and in either ASCII case.
//
// Also `redactUrls(text)`: the same rule applied to every URL inside a longer text, which
// `bundle` runs over every string it packs (a second line of defence, so that a bundle made
// from an older version's dumps is safe too).

const isAlpha = (c) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)
const isDigit = (c) => c >= 0x30 && c <= 0x39
const isAlnum = (c) => isAlpha(c) || isDigit(c)
const lowerAscii = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase())

function stripPrefixCi(s, prefix) {
  return s.length >= prefix.length && lowerAscii(s.slice(0, prefix.length)) === prefix ? s.slice(prefix.length) : null
}

/** `C:` followed by the end or a separator. */
function isDrivePath(s) {
  return s.length >= 2 && isAlpha(s.charCodeAt(0)) && s[1] === ':' && (s.length === 2 || s[2] === '/' || s[2] === '\\')
}

/** The length of a URL scheme at the start of `s`, if followed by `:`; one letter is a drive. */
function schemeLen(s) {
  if (!s.length || !isAlpha(s.charCodeAt(0))) return null
  let n = 0
  while (n < s.length) {
    const c = s.charCodeAt(n)
    if (!(isAlnum(c) || c === 0x2b || c === 0x2e || c === 0x2d)) break
    n++
  }
  return n >= 2 && s[n] === ':' ? n : null
}

const utf8Length = (s) => Buffer.byteLength(s, 'utf8')

/** `type/subtype` of a `data:` URL's head, lower-cased; '' when it is not one. */
function mediaType(head) {
  const t = head.split(';')[0]
  const m = /^([A-Za-z0-9.+-]+)\/([A-Za-z0-9.+-]+)$/.exec(t)
  return m && t.length <= 64 ? lowerAscii(t) : ''
}

function alreadyOpaque(rest, media) {
  const m = /^(.*) \[(\d+) bytes\]$/s.exec(rest)
  if (!m) return null
  const kind = m[1]
  const ok = media ? kind === '' || mediaType(kind) === kind : kind === ''
  return ok ? rest : null
}

function opaque(scheme, rest, media) {
  const kept = alreadyOpaque(rest, media)
  if (kept !== null) return scheme + kept
  const comma = rest.indexOf(',')
  const [head, content] = media && comma >= 0 ? [rest.slice(0, comma), rest.slice(comma + 1)] : ['', rest]
  return `${scheme}${mediaType(head)} [${utf8Length(content)} bytes]`
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

/** Every byte but letters, digits and `-._~/:` as `%XX`, as file URLs spell a path. */
function percentEncode(s) {
  let out = ''
  for (const b of Buffer.from(s, 'utf8')) {
    out +=
      isAlnum(b) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e || b === 0x2f || b === 0x3a
        ? String.fromCharCode(b)
        : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

const isSep = (c) => c === 0x2f || c === 0x5c
/** A character that continues a name (a home that follows one is the tail of a longer path). */
const isNameChar = (ch) => /[\p{L}\p{N}_.%~-]/u.test(ch)

/**
 * Compares UTF-8 bytes as the Rust twin does: `pattern` at the start of `bytes` from `at`,
 * separators either way, ASCII letters in either case when `fold`.
 */
function matchAt(bytes, at, pattern, fold) {
  if (bytes.length - at < pattern.length) return false
  for (let k = 0; k < pattern.length; k++) {
    const a = pattern[k]
    const b = bytes[at + k]
    if (a === b || (isSep(a) && isSep(b))) continue
    if (fold && isAlpha(a) && isAlpha(b) && (a | 0x20) === (b | 0x20)) continue
    return false
  }
  // The match must end on a character boundary (not inside a multi-byte character).
  const next = bytes[at + pattern.length]
  return next === undefined || (next & 0xc0) !== 0x80
}

/** `text` with every whole-prefix occurrence of `home` (plain or percent-encoded) as `~`: `{ text, count }`. */
function replaceHome(text, home) {
  if (typeof home !== 'string') return { text, count: 0 }
  const h = home.replace(/[\\/]+$/, '')
  if (Array.from(h).length < 2) return { text, count: 0 }
  const windows = h.includes('\\') || isDrivePath(h)
  const encoded = percentEncode(h.replace(/\\/g, '/'))
  // Most strings hold no home at all: a cheap look for its last component first.
  const lower = lowerAscii(text)
  const tail = (x) => lowerAscii(x.slice(Math.max(x.lastIndexOf('/'), x.lastIndexOf('\\')) + 1))
  if (!lower.includes(tail(h)) && !lower.includes(tail(encoded))) return { text, count: 0 }
  const forms = [Buffer.from(h, 'utf8')]
  if (encoded !== h) forms.push(Buffer.from(encoded, 'utf8'))
  const bytes = Buffer.from(text, 'utf8')
  let out = ''
  let count = 0
  let i = 0
  let prev = ''
  // Walk by characters, keeping the byte offset in step for the comparisons.
  const chars = Array.from(text)
  let ci = 0
  scan: while (ci < chars.length) {
    if (i === 0 || !isNameChar(prev)) {
      for (let k = 0; k < forms.length; k++) {
        const form = forms[k]
        if (matchAt(bytes, i, form, windows || k > 0)) {
          const end = i + form.length
          if (end === bytes.length || isSep(bytes[end])) {
            out += '~'
            count++
            // Advance the character index over the matched bytes.
            while (i < end) i += utf8Length(chars[ci++])
            prev = chars[ci - 1]
            continue scan
          }
        }
      }
    }
    const c = chars[ci++]
    out += c
    i += utf8Length(c)
    prev = c
  }
  return { text: out, count }
}

/** A place with the rule applied; `home` is shown as `~` (none, or a one-character one, is not matched). */
function redactPlace(place, home) {
  if (typeof place !== 'string') return ''
  const data = stripPrefixCi(place, 'data:')
  if (data !== null) return opaque('data:', data, true)
  const blob = stripPrefixCi(place, 'blob:')
  if (blob !== null) return opaque('blob:', blob, false)
  const q = place.search(/[?#]/)
  const p = q >= 0 ? place.slice(0, q) : place
  let path = p
  const n = schemeLen(p)
  if (n !== null && p.startsWith('://', n)) {
    const scheme = p.slice(0, n)
    const after = p.slice(n + 3)
    const authEnd = after.search(/[/\\]/) >= 0 ? after.search(/[/\\]/) : after.length
    const authority = after.slice(0, authEnd)
    const at = authority.lastIndexOf('@')
    const host = at >= 0 ? authority.slice(at + 1) : authority
    const rest = after.slice(authEnd)
    if (lowerAscii(scheme) === 'file') {
      const decoded = percentDecode(rest)
      const local = decoded.startsWith('/') && isDrivePath(decoded.slice(1)) ? decoded.slice(1) : decoded
      path = host === '' || lowerAscii(host) === 'localhost' ? local : `//${host}${local}`
    } else {
      path = `${scheme}://${host}${rest}`
    }
  }
  return replaceHome(path, home).text
}

/**
 * Every URL inside `text` through the rule (without the home directory, which the caller
 * matches with its own list): a `data:` URL takes the rest of the string with it (its content
 * may hold spaces), a `blob:` or `scheme://` URL runs to the next space or quote. Returns
 * `{ text, count }`, count being the URLs the rule changed.
 */
function redactUrls(text) {
  if (typeof text !== 'string' || !/[:]/.test(text)) return { text, count: 0 }
  let count = 0
  const re = /(?<![A-Za-z0-9+.-])(?:data:(?=[A-Za-z0-9.+\-/;=]*,)[\s\S]*|blob:[^\s"'<>]+|[A-Za-z][A-Za-z0-9+.-]+:\/\/[^\s"'<>]+)/gi
  const out = text.replace(re, (url) => {
    const r = redactPlace(url, null)
    if (r !== url) count++
    return r
  })
  return { text: out, count }
}

module.exports = { redactPlace, replaceHome, redactUrls }
