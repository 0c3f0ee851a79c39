// Negative control for the no-fork test: the same dump, plus one spawned program.
import { execFileSync } from 'node:child_process'

execFileSync('true')
await import('./dump-once.mjs')
