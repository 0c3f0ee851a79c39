'use strict'
// Twin of src/format.rs; shared by the fallback, inspect and bundle.
// How numbers and strings are written into human-readable text: the twin of
// src/format.rs, checked against tests/fixtures/golden/format.json (written by
// `cargo test format::`). Neither `toFixed` (which rounds by the exact binary value) nor
// Rust's `{:.1}` (halves to even) is used for text a document carries.

/** `x` with `digits` decimals, exact halves away from zero; the same f64 steps as Rust. */
function fixed(x, digits) {
  if (!Number.isFinite(x)) return String(x)
  const scale = 10 ** digits
  const scaled = Math.floor(Math.abs(x) * scale + 0.5)
  if (!Number.isFinite(scaled) || scaled >= 9007199254740992) return String(Math.round(x))
  const whole = Math.floor(scaled / scale)
  const frac = scaled - whole * scale
  const sign = x < 0 && scaled !== 0 ? '-' : ''
  return digits === 0 ? `${sign}${whole}` : `${sign}${whole}.${String(frac).padStart(digits, '0')}`
}

/** A number as `String(n)` writes it (the Rust side reproduces this). */
const numberText = (x) => String(x)

/** A string quoted as JSON (the Rust side uses serde_json, which quotes alike). */
const quote = (s) => JSON.stringify(s)

const MIB = 1024 * 1024
const mib0 = (b) => `${fixed(b / MIB, 0)} MiB`
const mib1 = (b) => `${fixed(b / MIB, 1)} MiB`

module.exports = { fixed, numberText, quote, mib0, mib1 }
