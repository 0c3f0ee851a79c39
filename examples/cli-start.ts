// What a CLI does first at start-up: asks how its last run ended and, if it crashed, prints
// one line that says how and which command bundles the evidence for a bug report. Only the
// first start after a death prints it (previousRun answers each ended process once per
// directory). Then it sets up its dumper as usual. The test suite type-checks this file
// (strict) and runs it after a real V8 heap OOM, twice.
import { MemoryDiagnosticsDumper, previousRun } from 'memory-diagnostics-dumper'

const directory = process.argv[2]
if (!directory) throw new Error('usage: cli-start <directory>')

const last = previousRun({ directory, bundleCommand: 'npx memory-diagnostics-dumper bundle' })
if (last?.died) console.error(last.line)

export const dumper = new MemoryDiagnosticsDumper({ directory, recorder: {} })
dumper.close()
