// A host's next start: asks how the previous process of argv[2] ended (previousRun) and
// prints the answer as JSON, with which implementation answered. argv[3]: a session id.
import { createRequire } from 'node:module'

const m = createRequire(import.meta.url)('../../index.js')
const [directory, sessionId] = process.argv.slice(2)
const answer = m.previousRun(sessionId ? { directory, sessionId } : { directory })
process.stdout.write(JSON.stringify({ implementation: m.implementation, answer }))
