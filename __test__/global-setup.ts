// Before the suite: clear the reliability figures of an earlier run. The specs record fresh
// ones in target/reliability/; `npm run reliability-report` turns them into
// docs/reliability.md, so a test run never rewrites a tracked file.
import { rmSync } from 'node:fs'
import { resultsDir } from './reliability.js'

export function setup() {
  rmSync(resultsDir, { recursive: true, force: true })
}
