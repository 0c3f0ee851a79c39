'use strict'
// A host that tampers with the built-ins, then blocks its loop once for 1.2 s in blockHere()
// with a dumper whose watchdog (captureStack) fires on any stall. Argument 2, the directory;
// argument 3, the tampering:
//   objectIndex:  an accessor on Object.prototype['0'] and ['1'] (it counts its calls and
//                 answers a value of its own);
//   arrayBuiltins: Array.prototype.push, Object.defineProperty/getOwnPropertyDescriptor/
//                 isExtensible and Error.captureStackTrace replaced by counting wrappers;
//   errorProxy:   globalThis.Error replaced by a Proxy whose traps count;
//   surrogate:    the blocking function's name holds a lone surrogate;
//   none:         no tampering;
//   workerStub:   worker_threads.Worker replaced by a stand-in whose terminate() returns
//                 undefined (a test double), then the dumper is closed;
// and prints one JSON line: { hostCalls, status, reason, first } (first: the innermost frame's
// function name).
const fs = require('node:fs')
const path = require('node:path')
const wt = require('node:worker_threads')
const dir = process.argv[2]
const how = process.argv[3]
const print = fs.writeSync.bind(fs, 1)
const stringify = JSON.stringify
const parse = JSON.parse
const readdir = fs.readdirSync
const read = fs.readFileSync

let counting = false
let hostCalls = 0
const count = () => {
  if (counting) hostCalls++
}

if (how === 'workerStub') {
  wt.Worker = class {
    unref() {}
    on() {}
    terminate() {}
  }
}
const { MemoryDiagnosticsDumper } = require('../../index.js')
const dumper = new MemoryDiagnosticsDumper({ directory: dir, cooldownMs: 0, watchdog: { rssBytes: 1, stallMs: 300, captureStack: true } })
if (how === 'workerStub') {
  dumper.close()
  print(`${stringify({ closed: true })}\n`)
  process.exit(0)
}

function blockHere() {
  const end = Date.now() + 1200
  let x = 0
  while (Date.now() < end) x++
  return x
}
let blocker = blockHere
if (how === 'surrogate') {
  blocker = { ['block\uD800Here']() { return blockHere() } }['block\uD800Here']
}

const restore = []
function tamper() {
  if (how === 'objectIndex') {
    for (const key of ['0', '1']) {
      Object.defineProperty(Object.prototype, key, {
        configurable: true,
        get() {
          count()
          return 'HOST_VALUE'
        },
        set(v) {
          count()
          Object.defineProperty(this, key, { value: v, writable: true, enumerable: true, configurable: true })
        },
      })
      restore.push(() => delete Object.prototype[key])
    }
  } else if (how === 'arrayBuiltins') {
    const wrap = (o, k) => {
      const f = o[k]
      o[k] = function (...a) {
        count()
        return Reflect.apply(f, this, a)
      }
      restore.push(() => {
        o[k] = f
      })
    }
    wrap(Array.prototype, 'push')
    wrap(Object, 'defineProperty')
    wrap(Object, 'getOwnPropertyDescriptor')
    wrap(Object, 'isExtensible')
    wrap(Error, 'captureStackTrace')
  } else if (how === 'errorProxy') {
    const E = Error
    globalThis.Error = new Proxy(E, {
      get(t, k, r) {
        count()
        return Reflect.get(t, k, r)
      },
    })
    restore.push(() => {
      globalThis.Error = E
    })
  }
}

// The helper starts on a later turn; the stall comes once it runs.
setTimeout(() => {
  tamper()
  counting = true
  blocker()
  counting = false
  for (const r of restore.reverse()) r()
  setTimeout(() => {
    const files = readdir(dir).filter((f) => /^memory-.*\.json$/.test(f))
    const docs = files.map((f) => parse(read(path.join(dir, f), 'utf8'))).filter((d) => d.trigger === 'watchdog')
    const stack = docs[0]?.watchdog?.stack
    dumper.close()
    print(`${stringify({ hostCalls, status: stack?.status, reason: stack?.reason, first: stack?.frames?.[0]?.function, frames: stack?.frames?.length ?? 0 })}\n`)
  }, 1500)
}, 600)
