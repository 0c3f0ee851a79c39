'use strict'
// JSON from a file we were handed, parsed so that it fails small. Its nesting is bounded
// before anything walks it: JSON.parse itself does not recurse, but bundle's redaction
// does, and one 4 KB file of `[[[[…` 2,000 deep overflowed the stack and took the whole
// bundle down. And an error says where, never what: JSON.parse's messages quote the text
// (`Unexpected token 'r', "root:*:202"...`), which could be a secret, so they are never shown.

/**
 * The deepest nesting read. The dump schema (lib/dump.schema.json) nests 6 levels
 * (allocationProfile.sites[].path[]), a recorder record 2, a heap snapshot 3; a newer
 * writer's fields have room to spare.
 */
const MAX_DEPTH = 64

// Character codes of the grammar (RFC 8259).
const [QUOTE, BACKSLASH, COMMA, COLON, MINUS, PLUS, DOT, ZERO, NINE] = [0x22, 0x5c, 0x2c, 0x3a, 0x2d, 0x2b, 0x2e, 0x30, 0x39]
const [OPEN_OBJECT, CLOSE_OBJECT, OPEN_ARRAY, CLOSE_ARRAY] = [0x7b, 0x7d, 0x5b, 0x5d]
const isSpace = (c) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
const isDigit = (c) => c >= ZERO && c <= NINE
const isHex = (c) => isDigit(c) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66)
const ESCAPES = new Set([...'"\\/bfnrtu'].map((c) => c.charCodeAt(0)))

/** Where the string starting at `i` (a quote) ends: the index after its closing quote, or -(the bad index) - 1. */
function stringEnd(t, i) {
  for (let j = i + 1; j < t.length; j++) {
    const c = t.charCodeAt(j)
    if (c === QUOTE) return j + 1
    if (c < 0x20) return -j - 1
    if (c !== BACKSLASH) continue
    const e = t.charCodeAt(++j)
    if (!ESCAPES.has(e)) return -j - 1
    if (e === 0x75) for (let k = 0; k < 4; k++) if (!isHex(t.charCodeAt(++j))) return -j - 1
  }
  return -t.length - 1
}

/** Where the number starting at `i` ends (as above). */
function numberEnd(t, i) {
  let j = i
  if (t.charCodeAt(j) === MINUS) j++
  if (t.charCodeAt(j) === ZERO) j++
  else if (isDigit(t.charCodeAt(j))) while (isDigit(t.charCodeAt(j))) j++
  else return -j - 1
  if (t.charCodeAt(j) === DOT) {
    if (!isDigit(t.charCodeAt(++j))) return -j - 1
    while (isDigit(t.charCodeAt(j))) j++
  }
  if ((t.charCodeAt(j) | 0x20) === 0x65) {
    j++
    if (t.charCodeAt(j) === PLUS || t.charCodeAt(j) === MINUS) j++
    if (!isDigit(t.charCodeAt(j))) return -j - 1
    while (isDigit(t.charCodeAt(j))) j++
  }
  return j
}

/** Where `true`, `false` or `null` starting at `i` ends (as above). */
function literalEnd(t, i) {
  for (const word of ['true', 'false', 'null']) {
    if (t.charCodeAt(i) !== word.charCodeAt(0)) continue
    for (let k = 1; k < word.length; k++) if (t.charCodeAt(i + k) !== word.charCodeAt(k)) return -(i + k) - 1
    return i + word.length
  }
  return -i - 1
}

// What comes next: a value (FIRST_VALUE: or the `]` of an empty array), a key (FIRST_KEY: or
// the `}` of an empty object), a colon, a comma or the container's close, and after the top
// value nothing.
const [VALUE, FIRST_VALUE, KEY, FIRST_KEY, COLON_NEXT, COMMA_OR_CLOSE, END] = [0, 1, 2, 3, 4, 5, 6]

let stack = new Uint8Array(MAX_DEPTH + 1)

/**
 * The first fault of `t` as JSON, `{ at, kind }` (kind 'depth', 'values' past `maxValues`
 * values, 'end' when the text stops inside a value, or 'syntax'), or null. One pass, no
 * recursion: a stack of at most `maxDepth` containers.
 */
function fault(t, maxDepth, maxValues = Infinity) {
  // Reused: a recorder trail is parsed line by line, 10^5 lines.
  if (stack.length <= maxDepth) stack = new Uint8Array(maxDepth + 1)
  const inObject = stack
  let depth = 0
  let want = VALUE
  let i = 0
  let values = 0
  for (;;) {
    let c = t.charCodeAt(i)
    while (isSpace(c)) c = t.charCodeAt(++i)
    if (i >= t.length) return want === END ? null : { at: i, kind: 'end' }
    const close = inObject[depth] ? CLOSE_OBJECT : CLOSE_ARRAY
    if (want === END) break
    if (want === COLON_NEXT) {
      if (c !== COLON) break
      want = VALUE
      i++
    } else if (want === COMMA_OR_CLOSE && c === COMMA) {
      want = inObject[depth] ? KEY : VALUE
      i++
    } else if ((want === COMMA_OR_CLOSE || want === FIRST_KEY || want === FIRST_VALUE) && c === close) {
      depth--
      want = depth ? COMMA_OR_CLOSE : END
      i++
    } else if (want === COMMA_OR_CLOSE) break
    else if (want === KEY || want === FIRST_KEY) {
      if (c !== QUOTE) break
      i = stringEnd(t, i)
      if (i < 0) return stop(t, -i - 1)
      want = COLON_NEXT
    } else if (++values > maxValues) return { at: i, kind: 'values' }
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (depth >= maxDepth) return { at: i, kind: 'depth' }
      inObject[++depth] = c === OPEN_OBJECT ? 1 : 0
      want = c === OPEN_OBJECT ? FIRST_KEY : FIRST_VALUE
      i++
    } else {
      i = c === QUOTE ? stringEnd(t, i) : c === MINUS || isDigit(c) ? numberEnd(t, i) : literalEnd(t, i)
      if (i < 0) return stop(t, -i - 1)
      want = depth ? COMMA_OR_CLOSE : END
    }
  }
  return { at: i, kind: 'syntax' }
}

/** A fault at `at`: the text ended there, or a character that cannot come there. */
const stop = (t, at) => ({ at, kind: at >= t.length ? 'end' : 'syntax' })

/**
 * `{ value }`, or `{ error, kind }`: 'depth' (nested deeper than `maxDepth`), 'values' (more
 * than `maxValues` values: what JSON.parse would build is bounded too), 'end' (the text
 * stops inside a value: truncated) or 'syntax'. The error gives the byte where the text stops
 * being JSON, never the text.
 */
function parseJson(text, maxDepth = MAX_DEPTH, maxValues = Infinity) {
  const bad = fault(text, maxDepth, maxValues)
  if (!bad) {
    try {
      return { value: JSON.parse(text) }
    } catch {
      // Never expected (the check above is the grammar JSON.parse reads); still, no quoting.
      return { kind: 'syntax', error: 'not valid JSON' }
    }
  }
  const at = Buffer.byteLength(text.slice(0, bad.at), 'utf8')
  const error =
    bad.kind === 'depth'
      ? `nested deeper than ${maxDepth} levels (at byte ${at})`
      : bad.kind === 'values'
        ? `it holds more than ${maxValues} JSON values (at byte ${at})`
        : bad.kind === 'end'
          ? `it ends inside a value (at byte ${at})`
          : `not valid JSON (at byte ${at})`
  return { kind: bad.kind, error }
}

/**
 * Cuts, in place, every array of a parsed value longer than `max` to its first and last
 * `max / 2` entries (the oldest and the newest samples of a history), and returns where
 * (`[{ at, entries }]`, at most 16 named). Recursion is bounded by the nesting parseJson
 * allowed; what is walked is at most what the text held.
 */
function boundArrays(value, max, at = '', cuts = []) {
  if (Array.isArray(value)) {
    if (value.length > max) {
      if (cuts.length < 16) cuts.push({ at: at || '/', entries: value.length })
      value.splice(Math.ceil(max / 2), value.length - max)
    }
    for (let i = 0; i < value.length; i++) if (value[i] && typeof value[i] === 'object') boundArrays(value[i], max, `${at}/${i}`, cuts)
  } else if (value && typeof value === 'object') {
    for (const k of Object.keys(value)) if (value[k] && typeof value[k] === 'object') boundArrays(value[k], max, `${at}/${k}`, cuts)
  }
  return cuts
}

/** The cuts of boundArrays in words, for a message that names the file. */
const cutsText = (cuts, max) =>
  `${cuts.map((c) => `${c.at.slice(0, 80)} has ${c.entries} entries`).join(', ')}: only the first and last ${max / 2} of each were read`

module.exports = { MAX_DEPTH, boundArrays, cutsText, parseJson }
