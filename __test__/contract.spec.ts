// One contract for both implementations: the golden cases (the same files cargo test
// checks the native core against) run here against the JS fallback and, through the
// public class, against both implementations; and each drift once found between them.
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { contract, DUMP_NAME, implementations, readDump, root, scratch, written } from './helpers.js'

const require = createRequire(import.meta.url)
const { analyze } = require('../lib/fallback/dump.js')
const format = require('../lib/rules/format.js')
const { readOptions } = require('../lib/fallback/config.js')

const goldenPath = (name: string) => join(root, 'tests', 'fixtures', 'golden', name)
const analysisGolden = JSON.parse(readFileSync(goldenPath('analysis.json'), 'utf8'))
const inputGolden = JSON.parse(readFileSync(goldenPath('input.json'), 'utf8'))
const formatGolden = JSON.parse(readFileSync(goldenPath('format.json'), 'utf8'))
const optionsGolden = JSON.parse(readFileSync(goldenPath('options.json'), 'utf8'))
const growthGolden = JSON.parse(readFileSync(goldenPath('growth.json'), 'utf8'))
const { growth } = require('../lib/rules/analysis.js')
const namesGolden = JSON.parse(readFileSync(goldenPath('names.json'), 'utf8'))
const { nameKind } = require('../lib/rules/names.js')
const factsGolden = JSON.parse(readFileSync(goldenPath('facts.json'), 'utf8'))
const { factsFromDocument } = require('../lib/fallback/facts.js')
const placesGolden = JSON.parse(readFileSync(goldenPath('places.json'), 'utf8'))
const { redactPlace, redactText, redactUrls, replaceHome } = require('../lib/rules/places.js')
const accountingGolden = JSON.parse(readFileSync(goldenPath('accounting.json'), 'utf8'))
const { accounting, growthPoint } = require('../lib/fallback/accounting.js')
const retentionGolden = JSON.parse(readFileSync(goldenPath('retention.json'), 'utf8'))
const { dumpsToRemove } = require('../lib/fallback/writer.js')
const procfsGolden = JSON.parse(readFileSync(goldenPath('procfs.json'), 'utf8'))
const { parsePsi, parseStat, parseStatus } = require('../lib/fallback/probes.js')

/** A value with its null and absent fields left out: one side writes `null` where the other omits the key. */
const present = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(present)
    : v !== null && typeof v === 'object'
      ? Object.fromEntries(
          Object.entries(v)
            .filter(([, x]) => x !== null && x !== undefined)
            .map(([k, x]) => [k, present(x)]),
        )
      : v

/** The values JSON cannot hold, spelled as strings in the golden files. */
function revive(v: unknown): unknown {
  if (v === '$NaN') return NaN
  if (v === '$Infinity') return Infinity
  if (v === '$undefined') return undefined
  if (v === '$function') return () => 1
  if (v === '$-Infinity') return -Infinity
  if (v === '$bigint') return 1n
  if (v === '$symbol') return Symbol('golden')
  if (Array.isArray(v)) return v.map(revive)
  if (v && typeof v === 'object') {
    // Own keys only, `__proto__` included, as JSON.parse made them.
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v)) Object.defineProperty(out, k, { value: revive((v as any)[k]), enumerable: true, writable: true, configurable: true })
    return out
  }
  return v
}

describe('golden analysis: facts to risks and recommendation', () => {
  it('uses the thresholds and advice of contract.json, which cargo test keeps in step with the crate', () => {
    expect(contract.analysis.thresholds.heapNearLimitCritical).toBeGreaterThan(contract.analysis.thresholds.heapNearLimitWarning)
    expect(Object.keys(contract.analysis.advice).sort()).toEqual([...contract.analysis.riskKinds].sort())
  })
  for (const c of analysisGolden.cases) {
    it(`js: ${c.name}`, () => {
      expect(c.expect, 'run cargo test with GOLDEN_BLESS=1 once to fill the expectations').not.toBeNull()
      expect(analyze(c.facts)).toEqual(c.expect)
    })
  }
})

/** Numbers the format golden spells as strings. */
const num = (v: unknown) => (v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : v === '-0' ? -0 : (v as number))

describe('golden format: one rounding rule and one way to write numbers and strings (src/format.rs, lib/rules/format.js)', () => {
  it('rounds exact halves away from zero, as the Rust side does (2.5 MiB reads "3" in both)', () => {
    const wrong = formatGolden.fixed.filter(([x, d, want]: [unknown, number, string]) => format.fixed(num(x), d) !== want)
    expect(wrong).toEqual([])
    expect(formatGolden.fixed.length).toBeGreaterThan(15)
  })
  it('writes numbers as String() does, which the Rust side reproduces (-1e-7, not -0.0000001)', () => {
    const wrong = formatGolden.numberText.filter(([x, want]: [unknown, string]) => format.numberText(num(x)) !== want)
    expect(wrong).toEqual([])
  })
  it('quotes strings as JSON (a control character reads "\\u0001", not "\\u{1}")', () => {
    const wrong = formatGolden.quote.filter(([x, want]: [string, string]) => format.quote(x) !== want)
    expect(wrong).toEqual([])
  })
})

describe('golden growth: points to the kind that grew, in lib/rules/analysis.js (the fallback and inspect) as in src/analysis/', () => {
  for (const c of growthGolden.cases) {
    it(c.name, () => {
      expect(growth(c.points)).toEqual(c.expect)
    })
  }
})

describe('golden facts: a document to the figures its analysis reads (src/dump/facts.rs, lib/fallback/facts.js)', () => {
  for (const c of factsGolden.cases) {
    it(c.name, () => {
      expect(factsFromDocument(c.document)).toEqual(c.expect)
    })
  }
})

describe('golden accounting: the parts of RSS and the growth point, in lib/fallback/accounting.js as in src/analysis/accounting.rs', () => {
  expect(accountingGolden.cases.length).toBeGreaterThan(5)
  for (const c of accountingGolden.cases) {
    it(c.name, () => {
      const a = accounting(c.status, c.atTrigger)
      expect(present(a)).toEqual(present(c.accounting))
      expect(present(growthPoint(c.point.epochMs, a, c.atTrigger))).toEqual(present(c.point))
    })
  }
})

describe('golden retention: which dumps go, and in which order, in lib/fallback/writer.js as in src/writer/retention.rs', () => {
  for (const c of retentionGolden.cases) {
    it(`maxFiles ${c.maxFiles}, keeping ${c.keep.length}`, () => {
      expect(dumpsToRemove(c.names, c.maxFiles, c.keep, retentionGolden.nowEpochMs)).toEqual(c.remove)
    })
  }
})

describe('golden procfs: status, stat and PSI texts read alike by lib/fallback/probes.js and src/probes/', () => {
  const read = (f: (text: string) => unknown, text: string) => {
    try {
      return f(text)
    } catch {
      return 'error'
    }
  }
  for (const [i, c] of procfsGolden.status.entries()) {
    it(`status ${i}`, () => expect(parseStatus(c.text)).toEqual(c.status))
  }
  for (const [i, c] of procfsGolden.stat.entries()) {
    it(`stat ${i}`, () => expect(read(parseStat, c.text)).toEqual(c.error ? 'error' : c.stat))
  }
  for (const [i, c] of procfsGolden.psi.entries()) {
    it(`psi ${i}`, () => expect(read(parsePsi, c.text)).toEqual(c.error ? 'error' : c.psi))
  }
})

describe('golden places: one rule for every script name from the runtime (src/places.rs, lib/rules/places.js)', () => {
  it('gives what the crate gives for every place and text, and the same again when applied twice', () => {
    expect(placesGolden.places.length).toBeGreaterThan(50)
    expect(placesGolden.texts.length).toBeGreaterThan(8)
    for (const [cases, rule] of [
      [placesGolden.places, redactPlace],
      [placesGolden.texts, redactText],
    ]) {
      for (const c of cases) {
        expect(rule(c.in, c.home), JSON.stringify(c)).toBe(c.out)
        expect(rule(c.out, c.home), `again: ${JSON.stringify(c)}`).toBe(c.out)
      }
    }
  })
  it('costs a hostile text its length: many data: words, credentials, URLs, encodings and homes', () => {
    for (const unit of ['data:', 'a:b@', 'x://', '%3A%2F%2F', '/home/alice']) {
      const text = unit.repeat(200_000)
      const out = redactText(text, '/home/alice')
      expect(out.length, unit).toBeLessThanOrEqual(text.length + 64)
    }
  }, 60_000)
  it("bundle's pass over any text: every URL inside it, then the home directory (a Windows-style one too)", () => {
    const home = 'C:\\Users\\Name'
    const text = 'at f (file:///C:/Users/name/app/x.js?token=S1:1:2) from c:\\users\\NAME\\y.js, https://u:S2@h.example/p?S3 and data:text/javascript,S4 S5'
    expect(redactUrls(text).count).toBe(1)
    expect(redactText(text, home)).toBe('at f (~/app/x.js from ~\\y.js, https://h.example/p and data:text/javascript [5 bytes]')
    expect(replaceHome('c:/users/name/a and C:\\Users\\Name\\b', home)).toEqual({ text: '~/a and ~\\b', count: 2 })
    expect(replaceHome('C:\\Users\\Names\\z.js', home).count).toBe(0)
  })
})

describe('golden names: which files are ours, for the fallback, inspect and bundle as for src/writer/', () => {
  it('classifies every name as the crate does', () => {
    const wrong = namesGolden.cases.filter(([name, kind]: [string, string | null]) => nameKind(name) !== kind)
    expect(wrong).toEqual([])
    // Both sides of each rule are in the table.
    const kinds = new Set(namesGolden.cases.map(([, k]: [string, string | null]) => k))
    expect([...kinds].sort()).toEqual(['dump', 'heap', 'recorder', 'tempAged', 'tempLocked', null].sort())
  })
})

describe('golden options: each options object gives the same first error in both implementations', () => {
  it('js rules (lib/fallback/config.js): every case', () => {
    const wrong = []
    for (const c of optionsGolden.cases) {
      let got = null
      try {
        readOptions(revive(c.options))
      } catch (e: any) {
        got = e.message
      }
      if (got !== c.expect) wrong.push({ name: c.name, want: c.expect, got })
    }
    expect(wrong).toEqual([])
    expect(optionsGolden.cases.filter((c: any) => c.expect === null).length).toBeGreaterThan(0)
  })
  for (const impl of implementations) {
    it(`${impl.name}: the constructor throws the golden error`, () => {
      const wrong = []
      for (const c of optionsGolden.cases.filter((c: any) => c.expect !== null)) {
        let e: any
        try {
          new impl.Raw(revive(c.options) as any).close()
        } catch (x) {
          e = x
        }
        if (e?.message !== c.expect || e?.code !== 'InvalidArg') wrong.push({ name: c.name, want: c.expect, got: e?.message, code: e?.code })
      }
      expect(wrong).toEqual([])
    })
  }
})

describe('golden phase-1 documents: the same input gives the same document in both implementations', () => {
  const bless = process.env.GOLDEN_BLESS === '1'
  const got: Record<string, unknown[]> = {}
  for (const impl of implementations) {
    for (const c of inputGolden.cases) {
      it(`${impl.name}: ${c.name}`, async () => {
        const dir = join(scratch(), 'd')
        const d = new impl.MemoryDiagnosticsDumper({ directory: dir, sessionId: 'golden', cooldownMs: 0 })
        const r = await d.dump(c.trigger, revive(c.input) as any)
        d.close()
        const file = written(r)
        expect(file.slice(dir.length + 1)).toMatch(DUMP_NAME)
        const doc = readDump(file)
        const seen = { atTrigger: doc.atTrigger, session: doc.session, inputWarnings: doc.inputWarnings, suggestion: doc.suggestion }
        got[c.name] ??= []
        got[c.name].push(seen)
        if (bless && impl.name === 'native') c.expect = seen
        else expect(seen).toEqual(c.expect)
      })
    }
  }
  if (bless) {
    it('rewrites the expectations (GOLDEN_BLESS=1)', () => {
      writeFileSync(goldenPath('input.json'), `${JSON.stringify(inputGolden, null, 2)}\n`)
      for (const seen of Object.values(got)) expect(seen[1]).toEqual(seen[0])
    })
  }
})

describe('drifts once found between the implementations', () => {
  for (const impl of implementations) {
    it(`${impl.name}: resetForNewSession() takes a string or nothing, and names the argument otherwise`, () => {
      const d = new impl.Raw({ directory: join(scratch(), 'd'), sessionId: 'before' })
      for (const bad of [12345, {}, true]) {
        let e: any
        try {
          d.resetForNewSession(bad as any)
        } catch (x) {
          e = x
        }
        expect(e?.code).toBe('InvalidArg')
        expect(e.message).toMatch(/^sessionId: expected a string, or undefined, got /)
      }
      expect(d.sessionId).toBe('before')
      d.resetForNewSession('after')
      expect(d.sessionId).toBe('after')
      d.resetForNewSession(undefined)
      expect(d.sessionId).toBe('after')
      d.close()
    })

    it(`${impl.name}: a directory under /proc is an error, quickly (no endless mkdir)`, () => {
      const r = spawnSync(
        process.execPath,
        [
          '-e',
          `const { MemoryDiagnosticsDumper } = require(${JSON.stringify(join(root, 'index.js'))})
           const d = new MemoryDiagnosticsDumper({ directory: '/proc/self/mdd-test/x' })
           d.dump('manual').then((r) => { console.log(JSON.stringify({ problem: d.problem, written: r.written })); d.close() })`,
        ],
        { env: { ...process.env, ...impl.env }, timeout: 20_000, encoding: 'utf8' },
      )
      expect(r.error, 'the child did not finish in 20 s').toBeUndefined()
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
      expect(out.written).toBe(false)
      expect(out.problem).toMatch(/could not create diagnostics directory \/proc\/self\/mdd-test\/x/)
    })
  }
})
