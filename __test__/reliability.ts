// Shared by the reliability specs: records each scenario's figures so that
// `npm run reliability-report` can regenerate docs/reliability.md.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './helpers.js'

export interface ScenarioResult {
  scenario: string
  iterations: number
  violations: number
  how: string
  details?: string
}

export const resultsDir = join(root, 'target', 'reliability')

export function record(r: ScenarioResult) {
  mkdirSync(resultsDir, { recursive: true })
  const file = r.scenario.replace(/[^A-Za-z0-9]+/g, '-').toLowerCase()
  writeFileSync(join(resultsDir, `${file}.json`), JSON.stringify(r))
}
