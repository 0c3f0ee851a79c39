import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import Ajv2020Module from 'ajv/dist/2020.js'
import type { DumpInput } from '../index.js'

const require = createRequire(import.meta.url)
export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const addon: typeof import('../index.js') = require('../index.js')
export const { MemoryDiagnosticsDumper } = addon

const Ajv2020 = (Ajv2020Module as any).default ?? Ajv2020Module
const ajv: import('ajv').default = new Ajv2020({ allErrors: true, strict: true, strictRequired: false })
const validateDoc = ajv.compile(JSON.parse(readFileSync(join(root, 'docs/dump.schema.json'), 'utf8')))

/** A fresh private scratch directory; the diagnostics directory goes inside it. */
export function scratch(tag = 'mdd'): string {
  return realpathSync(mkdtempSync(join(tmpdir(), `${tag}-`)))
}

export function input(extra: Partial<DumpInput> = {}): DumpInput {
  return {
    heapStatistics: v8.getHeapStatistics(),
    memoryUsage: process.memoryUsage(),
    heapSpaces: v8.getHeapSpaceStatistics(),
    ...extra,
  }
}

/** Exactly the dump file names the addon writes. */
export const DUMP_NAME = /^memory-[A-Za-z0-9_]{1,8}-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-\d+\.json$/

export function dumpFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => DUMP_NAME.test(f))
    .sort()
    .map((f) => join(dir, f))
}

/** Parses a dump and checks it against docs/dump.schema.json; throws with the errors. */
export function readDump(path: string): any {
  const doc = JSON.parse(readFileSync(path, 'utf8'))
  if (!validateDoc(doc)) {
    throw new Error(`${path} does not match the schema: ${ajv.errorsText(validateDoc.errors)}`)
  }
  return doc
}

export function validates(doc: unknown): boolean {
  return validateDoc(doc) as boolean
}

export function mode(path: string): number {
  return statSync(path).mode & 0o7777
}

export function runNode(script: string, args: string[] = [], opts: { env?: NodeJS.ProcessEnv; prefix?: string[] } = {}): SpawnSyncReturns<string> {
  const cmd = opts.prefix ?? []
  const argv = [...cmd, process.execPath, script, ...args]
  return spawnSync(argv[0], argv.slice(1), {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    timeout: 120_000,
  })
}

/** Why strace-based tests cannot run here, or null if they can. */
export function straceUnavailable(): string | null {
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=none', 'true'], { encoding: 'utf8' })
  if (r.error) return `strace is not installed (${(r.error as Error).message})`
  if (r.status !== 0) return `strace cannot trace here (ptrace not permitted?): ${r.stderr.trim()}`
  return null
}

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
