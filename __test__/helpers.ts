import { type SpawnSyncReturns, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import v8 from 'node:v8'
import { inflateSync } from 'node:zlib'
import Ajv2020Module from 'ajv/dist/2020.js'
import type { DumpInput } from '../index.js'

const require = createRequire(import.meta.url)
export const root = join(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * One of the other Node versions' legs (scripts/test-node.mjs sets MDD_SECONDARY_NODE=1): the
 * repetition-heavy tests run at a fraction of their counts, and what gives the main Node's
 * verdict (the quick bench, the TypeScript checks) is left to the main leg, `npm test`.
 */
export const secondaryNode = process.env.MDD_SECONDARY_NODE === '1'
export const addon: typeof import('../index.js') = require('../index.js')
export const { MemoryDiagnosticsDumper } = addon

type DumperClass = typeof import('../index.js').MemoryDiagnosticsDumper
type RawDumperClass = typeof import('../native.js').MemoryDiagnosticsDumper
export interface Implementation {
  name: 'native' | 'js'
  /** The public class over this implementation, as `index.js` exports it. */
  MemoryDiagnosticsDumper: DumperClass
  /** The implementation underneath, which validates every value and throws `InvalidArg`. */
  Raw: RawDumperClass
  /** Environment that makes `index.js` pick this implementation in a child process. */
  env: NodeJS.ProcessEnv
}
const { wrap } = require('../lib/dumper/public-class.js')
const { withHeapSnapshots } = require('../lib/dumper/heap-snapshot.js')
const nativeBinding = require('../native.js')
const rawNative: RawDumperClass = nativeBinding.MemoryDiagnosticsDumper
const rawJs: RawDumperClass = require('../lib/fallback/dump.js').create('selected by the test suite').MemoryDiagnosticsDumper
/** Both implementations, so that the suite runs against each and they cannot drift. */
export const implementations: Implementation[] = [
  // Over the binding, as index.js makes it: dump() and observe() on the fast path.
  { name: 'native', MemoryDiagnosticsDumper: wrap(withHeapSnapshots(rawNative), nativeBinding), Raw: rawNative, env: {} },
  { name: 'js', MemoryDiagnosticsDumper: wrap(rawJs), Raw: rawJs, env: { MEMORY_DIAGNOSTICS_DUMPER_FORCE_JS: '1' } },
]

/** The file path of a dump that used a slot; fails the test otherwise. */
export function written(r: import('../index.js').DumpResult): string {
  if (r.filePath === undefined) throw new Error(`expected a dump that used a slot, got ${JSON.stringify(r)}`)
  return r.filePath
}

const Ajv2020 = (Ajv2020Module as any).default ?? Ajv2020Module
const ajv: import('ajv').default = new Ajv2020({ allErrors: true, strict: true, strictRequired: false })
const validateDoc = ajv.compile(JSON.parse(readFileSync(join(root, 'lib/dump.schema.json'), 'utf8')))

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

/** Exactly the dump file names the addon writes (`.<k>` when the first choice was taken). */
export const contract = JSON.parse(readFileSync(join(root, 'lib', 'contract.json'), 'utf8'))
export const DUMP_NAME = new RegExp(contract.files.dumpName)
/** The recorder's files: `recorder-<session8>-<pid>-<token>.jsonl`, rotated `.jsonl.1`. */
export const RECORDER_NAME = /^recorder-[A-Za-z0-9_-]{1,64}\.jsonl(\.1)?$/

/** The current recorder files of `session` in `dir` (one per process and session). */
export function recorderFiles(dir: string, session: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => f.startsWith(`recorder-${session}-`) && f.endsWith('.jsonl') && RECORDER_NAME.test(f))
    .sort()
    .map((f) => join(dir, f))
}

/** The one current recorder file of `session` in `dir`; throws if there is not exactly one. */
export function recorderFile(dir: string, session: string): string {
  const files = recorderFiles(dir, session)
  if (files.length !== 1) throw new Error(`expected one recorder file of session ${session} in ${dir}, found ${JSON.stringify(files)}`)
  return files[0]
}

/** How many samples a recorder file holds so far (its complete lines): a clock for waits. */
export function recorderSamples(path: string): number {
  return readFileSync(path, 'utf8')
    .split('\n')
    .slice(0, -1)
    .filter((l) => l.includes('"type":"sample"')).length
}

export function dumpFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => DUMP_NAME.test(f))
    .sort()
    .map((f) => join(dir, f))
}

/** Parses a dump and checks it against lib/dump.schema.json; throws with the errors. */
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

export function runNode(
  script: string,
  args: string[] = [],
  opts: { env?: NodeJS.ProcessEnv; prefix?: string[]; nodeArgs?: string[] } = {},
): SpawnSyncReturns<string> {
  const cmd = opts.prefix ?? []
  const argv = [...cmd, process.execPath, ...(opts.nodeArgs ?? []), script, ...args]
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

/** A memory cgroup with a limit, created for a test; or the reason it cannot be. */
export interface TestCgroup {
  dir: string
  version: 'v1' | 'v2'
  limitFile: string
  /** Runs `node script args` inside the cgroup. */
  runNode(script: string, args: string[], opts?: { timeout?: number; nodeArgs?: string[] }): SpawnSyncReturns<string>
  remove(): void
}

export function makeMemoryCgroup(limitBytes: number, tag: string): TestCgroup | string {
  const candidates: Array<['v1' | 'v2', string, string]> = [
    ['v1', '/sys/fs/cgroup/memory', 'memory.limit_in_bytes'],
    ['v2', '/sys/fs/cgroup', 'memory.max'],
  ]
  // Memory cgroups are Linux's (under Wine a Windows Node would see the host's /sys as Z:\sys).
  if (process.platform !== 'linux') return `no memory cgroups on ${process.platform}`
  const reasons: string[] = []
  for (const [version, base, limitFile] of candidates) {
    if (!existsSync(join(base, limitFile === 'memory.max' ? 'cgroup.controllers' : 'memory.limit_in_bytes'))) {
      reasons.push(`${version}: no memory hierarchy at ${base}`)
      continue
    }
    const dir = join(base, `mdd-test-${tag}-${process.pid}-${Date.now()}`)
    try {
      mkdirSync(dir)
    } catch (e: any) {
      reasons.push(`${version}: cannot create ${dir} (${e.code ?? e.message})`)
      continue
    }
    try {
      writeFileSync(join(dir, limitFile), String(limitBytes))
    } catch (e: any) {
      rmSync(dir, { recursive: false, force: true })
      reasons.push(`${version}: cannot set ${limitFile} (${e.code ?? e.message})`)
      continue
    }
    return {
      dir,
      version,
      limitFile,
      runNode(script, args, opts = {}) {
        return spawnSync('sh', ['-c', 'echo $$ > "$0" && exec "$@"', join(dir, 'cgroup.procs'), process.execPath, ...(opts.nodeArgs ?? []), script, ...args], {
          cwd: root,
          encoding: 'utf8',
          timeout: opts.timeout ?? 120_000,
        })
      },
      remove() {
        for (let i = 0; i < 50; i++) {
          try {
            rmdirSync(dir)
            return
          } catch {
            spawnSync('sleep', ['0.1'])
          }
        }
      },
    }
  }
  return reasons.join('; ')
}

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium's screenshots are). */
export function decodePng(buf: Buffer): { width: number; height: number; pixel(x: number, y: number): [number, number, number] } {
  let pos = 8
  let width = 0
  let height = 0
  let colorType = 0
  const idat: Buffer[] = []
  while (pos < buf.length) {
    const len = buf.readUInt32BE(pos)
    const type = buf.toString('latin1', pos + 4, pos + 8)
    const data = buf.subarray(pos + 8, pos + 8 + len)
    if (type === 'IHDR') {
      width = data.readUInt32BE(0)
      height = data.readUInt32BE(4)
      if (data[8] !== 8 || data[12] !== 0) throw new Error('only 8-bit non-interlaced PNGs')
      colorType = data[9]
    } else if (type === 'IDAT') idat.push(data)
    pos += 12 + len
  }
  const bpp = colorType === 6 ? 4 : colorType === 2 ? 3 : 0
  if (!bpp) throw new Error(`PNG color type ${colorType} not supported`)
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * bpp
  const out = Buffer.alloc(height * stride)
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[y * stride + x - bpp] : 0
      const b = y > 0 ? out[(y - 1) * stride + x] : 0
      const c = x >= bpp && y > 0 ? out[(y - 1) * stride + x - bpp] : 0
      const p = a + b - c
      const pred =
        f === 0
          ? 0
          : f === 1
            ? a
            : f === 2
              ? b
              : f === 3
                ? (a + b) >> 1
                : Math.abs(p - a) <= Math.abs(p - b) && Math.abs(p - a) <= Math.abs(p - c)
                  ? a
                  : Math.abs(p - b) <= Math.abs(p - c)
                    ? b
                    : c
      out[y * stride + x] = (line[x] + pred) & 0xff
    }
  }
  return { width, height, pixel: (x, y) => [out[y * stride + x * bpp], out[y * stride + x * bpp + 1], out[y * stride + x * bpp + 2]] }
}

/** Runs `task(0..n)` with at most `width` at once; the results in index order. */
export async function pool<T>(n: number, width: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n)
  let next = 0
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) {
        const i = next++
        out[i] = await task(i)
      }
    }),
  )
  return out
}

/**
 * Polls `f` every 10 ms until it returns something other than undefined (a throw counts as
 * not yet), and returns that; fails naming `what` after `ms`. Tests wait on conditions with
 * it, never on a fixed sleep followed by an exact count.
 */
export async function waitFor<T>(f: () => T | undefined, what = 'a condition', ms = 10_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    try {
      const v = f()
      if (v !== undefined) return v
    } catch {
      /* not there yet */
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/**
 * A copy of the package as npm would install it, in its own directory (a CLI and a plugin
 * each depending on it load two); `patch` rewrites the copy's public class.
 */
export function copyOfPackage(to: string, patch?: (publicClass: string) => string): string {
  for (const f of readdirSync(root)) {
    if (['index.js', 'package.json', 'native.js', 'lib'].includes(f) || f.endsWith('.node')) cpSync(join(root, f), join(to, f), { recursive: true })
  }
  if (patch) {
    const p = join(to, 'lib', 'dumper', 'public-class.js')
    writeFileSync(p, patch(readFileSync(p, 'utf8')))
  }
  return to
}
