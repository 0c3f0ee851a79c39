'use strict'
// Writing a .zip (`bundle`): the entries, each compressed on its own, by fflate (MIT, no
// dependencies), which is loaded only here (read.js reads with node:zlib).

/** A .zip of `entries` (`{ name, data: Buffer }`), as one Buffer. */
function zip(entries) {
  const { zipSync } = require('fflate')
  const mtime = new Date()
  const input = {}
  for (const e of entries) input[e.name] = [new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.length), { level: 9, mtime }]
  return Buffer.from(zipSync(input))
}

module.exports = { zip }
