// A process that leaks in one of three ways, with allocation profiles on: it dumps once
// early (`manual`), leaks for a while, then dumps again (`critical`), and exits by itself.
// Every leak holds a secret string value, which no dump may contain.
// argv: dir, leak ('measure' | 'map' | 'closures' | 'idle'), secret
import { EventEmitter } from 'node:events'
import inspector from 'node:inspector'
import { createRequire } from 'node:module'

const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)('../../index.js')
const [dir, leak, secret] = process.argv.slice(2)

const dumper = new MemoryDiagnosticsDumper({ directory: dir, sessionId: `alloc${leak}`, cooldownMs: 0, allocationProfile: { samplingIntervalBytes: 32768 } })

// A small legitimate history that stays: every program has it.
const history = []
for (let i = 0; i < 2000; i++) history.push({ turn: i, text: `turn ${i}` })

// Each leaking function is the size of real code (a render, a fetch wrapper, a subscribe
// helper): V8 inlines small functions into their callers, and an inlined function's
// allocations are its caller's in any sampling profile (docs/allocation-profiles.md).
const layout = { width: 80, height: 24, cursor: 0, lines: [] }
const stats = { frames: 0, hits: 0, misses: 0, listeners: 0 }

// The performance.measure pattern: a render function that marks and measures every frame,
// and nobody clears the entries (Node buffers every PerformanceMeasure).
function renderFrame(i) {
  performance.mark(`render-${i}`)
  const width = layout.width - (i % 7)
  const height = layout.height
  let cursor = layout.cursor
  for (let row = 0; row < 3; row++) {
    const text = row === 0 ? `frame ${i}` : row === 1 ? `width ${width}` : `height ${height}`
    cursor = (cursor + text.length) % (width * height)
    if (cursor > width * 2) cursor -= width
    else if (cursor < 0) cursor += width
  }
  layout.cursor = cursor
  stats.frames += 1
  if (stats.frames % 1000 === 0) layout.lines.length = 0
  else if (layout.lines.length < 10) layout.lines.push(cursor)
  performance.measure(`frame-${i}`, `render-${i}`)
  return cursor
}

// An unbounded cache: every response kept under a new key.
const cache = new Map()
function cacheResponse(i) {
  const key = `request-${i}`
  const status = i % 97 === 0 ? 404 : 200
  const headers = { 'content-type': 'text/plain', 'x-request': key }
  if (cache.has(key)) {
    stats.hits += 1
    return cache.get(key)
  }
  stats.misses += 1
  let size = 0
  for (let k = 0; k < 3; k++) size += key.length * (k + 1)
  if (status !== 200) headers['x-error'] = `status ${status}`
  else if (size > 1e9) headers['x-large'] = 'yes'
  const entry = { status, body: `${secret}-${i}`, headers, size }
  cache.set(key, entry)
  return entry
}

// Accumulating listeners: each subscription adds a closure that is never removed.
const bus = new EventEmitter()
bus.setMaxListeners(0)
function subscribe(i) {
  const token = `${secret}-${i}`
  const topic = i % 3 === 0 ? 'tick' : i % 3 === 1 ? 'tick' : 'tick'
  let weight = 0
  for (let k = 0; k < 3; k++) weight += (i + k) % 5
  if (weight > 100) return null
  stats.listeners += 1
  const handler = () => token.length + i + weight
  bus.on(topic, handler)
  if (stats.listeners % 10000 === 0) stats.listeners = stats.listeners + 0
  return handler
}

const step = { measure: renderFrame, map: cacheResponse, closures: subscribe, idle: () => {} }[leak]
const first = await dumper.dump('manual')
for (let round = 0; round < 40; round++) {
  for (let i = 0; i < 2500; i++) step(round * 2500 + i)
  await new Promise((r) => setImmediate(r))
}
const second = await dumper.dump('critical')
// The host's own inspector session still works beside the profiler's.
const host = new inspector.Session()
host.connect()
let hostEval = null
host.post('Runtime.evaluate', { expression: '20 + 22' }, (e, r) => {
  hostEval = e ? String(e.message) : r.result.value
})
host.disconnect()
console.log(JSON.stringify({ first, second, hostEval, held: [history.length, cache.size, bus.listenerCount('tick')] }))
