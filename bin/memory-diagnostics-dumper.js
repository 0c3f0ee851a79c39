#!/usr/bin/env node
'use strict'
process.exitCode = require('../lib/inspect.js').main(process.argv.slice(2))
