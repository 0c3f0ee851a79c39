'use strict'
// The package's version, from its package.json ('unknown' when that cannot be read).

const fs = require('node:fs')
const path = require('node:path')

function version() {
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')).version
  } catch {
    return 'unknown'
  }
}

module.exports = { version }
