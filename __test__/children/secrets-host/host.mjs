// A host whose code is named by URLs that carry secrets (issue 33), run from a copy of this
// folder inside a planted home directory: a module imported with a query and a fragment,
// code evaluated with a sourceURL that holds credentials and a signature, and a data:
// module whose URL is its source. Each of them allocates (allocation sites), one blocks the
// loop (the watchdog's stack) and one throws the error that ends the process (the exit
// record). argv: directory, package entry. Every secret is spelled CANARY….
import { createRequire } from 'node:module'
import v8 from 'node:v8'
import vm from 'node:vm'

const [dir, entry] = process.argv.slice(2)
const { MemoryDiagnosticsDumper } = createRequire(import.meta.url)(entry)
const dumper = new MemoryDiagnosticsDumper({
  directory: dir,
  sessionId: 'secrets',
  cooldownMs: 0,
  recorder: { intervalMs: 50 },
  watchdog: { rssBytes: 1, stallMs: 300, captureStack: true },
  allocationProfile: { samplingIntervalBytes: 1024 },
})
dumper.observe(v8.getHeapStatistics(), process.memoryUsage())

const query = await import('./mod.mjs?token=CANARYQUERY#CANARYFRAGMENT')
const data = await import(
  'data:text/javascript,export function holdData(list) { const API_KEY = "CANARYDATA"; for (let i = 0; i < 40000; i++) list.push({ i, key: API_KEY.length }); return list }'
)
// Evaluated code named by its sourceURL comment.
const viaUrl = vm.runInThisContext(
  '(function holdViaUrl(list) { for (let i = 0; i < 40000; i++) list.push([i, i]); return list })\n//# sourceURL=https://user:CANARYPASSWORD@cdn.example/app.js?sig=CANARYSIG',
)
// Names V8 takes from vm filenames as given: a query on a plain path (which the inspector
// percent-encodes into a file URL), credentials without a scheme, a URL after a newline, a
// javascript: URL.
const named = (filename, name) =>
  vm.runInThisContext(`(function ${name}(list, next) { for (let i = 0; i < 40000; i++) list.push({ i }); return next ? next(list) : list })`, { filename })
const plainQuery = named('/opt/app/plain.js?token=CANARYVMQUERY#CANARYVMFRAG', 'holdPlain')
const noScheme = named('CANARYVMUSER:CANARYVMPASS@host.example/app.js', 'holdNoScheme')
const afterNewline = named('evil.js\n    at f (https://CANARYNLUSER:CANARYNLPASS@h.example/x.js', 'holdNewline')
const javascriptUrl = named("javascript:void('CANARYJS')", 'holdJs')
const held = [query.holdQuery([]), data.holdData([]), viaUrl([]), plainQuery([]), noScheme([]), afterNewline([]), javascriptUrl([])]
// A function named by a computed key that holds a URL with credentials and a query: it throws
// the error that ends the process.
const handlers = {
  ['https://CANARYKEYUSER:CANARYKEYPASS@api.example/v1?key=CANARYKEYQUERY']: (reply) => reply.body.length,
}

const settle = (ms) => new Promise((r) => setTimeout(r, ms))
await settle(100)
await dumper.dump('critical')
await settle(300)
// The watchdog: the loop blocked in the query module's code.
setTimeout(() => {
  dumper.observe()
  // Blocked in the query module's code, called through the vm script with the query.
  plainQuery([], () => query.spin(Date.now() + 1500))
  setTimeout(() => {
    process.stdout.write(`${held.length}\n`)
    // The process ends by an error thrown in the query module.
    setTimeout(() => handlers[Object.keys(handlers)[0]]({}), 800)
  }, 10)
}, 100)
