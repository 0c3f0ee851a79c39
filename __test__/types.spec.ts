import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { root, secondaryNode } from './helpers.js'

const tsc = join(root, 'node_modules/typescript/bin/tsc')
// TypeScript's verdict does not depend on the Node that runs it: the other Node versions'
// legs (MDD_SECONDARY_NODE) leave it to the main one.

describe.skipIf(secondaryNode)('typings', () => {
  it('type-check a strict TypeScript consumer passing the Node APIs straight in, and reject misuse (examples/type-errors.ts)', () => {
    const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'examples/tsconfig.json')], { encoding: 'utf8' })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  })

  it('type-check the test suite itself', () => {
    const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { encoding: 'utf8' })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  })
})
