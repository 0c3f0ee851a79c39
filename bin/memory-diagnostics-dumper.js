#!/usr/bin/env node
'use strict'
process.exitCode = require('../inspect.js').main(process.argv.slice(2))
