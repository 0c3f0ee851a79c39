import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readDump, root, runNode } from './helpers.js'

describe('npm run demo', () => {
  it('drives a real child into heap OOM; its hard and critical dumps survive, complete and valid', () => {
    const r = runNode(join(root, 'demo/run.mjs'))
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/The child died after .*(SIGABRT|exit code 134).*JavaScript heap out of memory/)
    expect(r.stdout).toMatch(/The process crashed; \d dump file\(s\) survived/)
    const dir = r.stdout.match(/into (demo-output\/\S+)\//)![1]
    const files = readdirSync(join(root, dir)).map((f) => readDump(join(root, dir, f)))
    expect(files.map((d) => d.trigger).sort()).toEqual(['critical', 'hard'])
    expect(files.every((d) => d.collectionComplete)).toBe(true)
  })
})
