import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { readDump, root, runNode } from './helpers.js'

describe('npm run demo', () => {
  it('drives a real child into heap OOM; its hard and critical dumps survive, complete and valid', () => {
    const r = runNode(join(root, 'demo/run.mjs'))
    expect(r.status, r.stdout + r.stderr).toBe(0)
    expect(r.stdout).toMatch(/The child died after .*(SIGABRT|exit code 134).*JavaScript heap out of memory/)
    expect(r.stdout).toMatch(/The process crashed; \d dump file\(s\) and the recorder.s trajectory survived/)
    expect(r.stdout).toMatch(/Flight recorder .*: \d+ samples, no exit record/)
    const dir = r.stdout.match(/into (demo-output\/\S+)\/;/)![1]
    const files = readdirSync(join(root, dir))
      .filter((f) => /^memory-.*\.json$/.test(f))
      .map((f) => readDump(join(root, dir, f)))
    expect(files.map((d) => d.trigger).sort()).toEqual(['critical', 'hard'])
    expect(files.every((d) => d.collectionComplete)).toBe(true)
    // The child runs as we advise a CLI to: recorder, allocation sites, blocked-loop stacks.
    expect(files.every((d) => d.allocationProfile?.status === 'taken')).toBe(true)
    // It leaks from rememberTurn: the output, the advice and the timeline name it as the site that grew.
    const line =
      readFileSync(join(root, 'demo/child.mjs'), 'utf8')
        .split('\n')
        .findIndex((l) => l.startsWith('function rememberTurn(')) + 1
    expect(r.stdout).toMatch(new RegExp(`by allocation site \\(sampled live bytes [^)]*\\): [^\\n]*rememberTurn \\(child\\.mjs:${line}\\)`))
    expect(r.stdout).toContain(`Look next at: the code that grew, by allocation site: rememberTurn (child.mjs:${line})`)
    // With one of its dumps alone, the advice names what held the most live bytes then.
    const one = join(root, dir, '..', 'one')
    mkdirSync(one)
    const names = readdirSync(join(root, dir))
    for (const f of names.filter(
      (n) =>
        (n.startsWith('recorder-') && !n.endsWith('.reported')) ||
        n ===
          names
            .filter((m) => /^memory-.*\.json$/.test(m))
            .sort()
            .at(-1),
    ))
      copyFileSync(join(root, dir, f), join(one, f))
    const single = runNode(join(root, 'bin/memory-diagnostics-dumper.js'), ['inspect', one]).stdout
    expect(single).toContain(`Look next at: the code that held the most sampled live bytes in dump #2: rememberTurn (child.mjs:${line})`)
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`The code that leaked: rememberTurn (demo/child.mjs:${line}).`)
    expect(readFileSync(join(root, dir, '..', 'timeline.html'), 'utf8')).toContain(`rememberTurn (child.mjs:${line})`)
    // And the line the program's next start prints.
    expect(r.stdout).toMatch(/The next start of the program prints, once:\n {2}The last run of this program \(pid \d+\) at .* crashed: .*rememberTurn/)
  })
})

describe('npm run demo:kernel-oom', () => {
  const canCgroup = existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes') || existsSync('/sys/fs/cgroup/cgroup.controllers')
  if (!canCgroup || process.getuid?.() !== 0) console.log('skipped the kernel-OOM demo test: needs root and a cgroup memory controller')
  it.skipIf(!canCgroup || process.getuid?.() !== 0)(
    'a child in a 256 MiB cgroup is OOM-killed by the kernel; its dumps and recorder trajectory survive',
    () => {
      const r = runNode(join(root, 'demo/run.mjs'), ['--kernel-oom'])
      expect(r.status, r.stdout + r.stderr).toBe(0)
      expect(r.stdout).toMatch(/signal SIGKILL \(the kernel OOM killer\)/)
      expect(r.stdout).toMatch(/Flight recorder .*: \d+ samples, no exit record/)
      const dir = r.stdout.match(/into (demo-output\/\S+)\/;/)![1]
      const docs = readdirSync(join(root, dir))
        .filter((f) => /^memory-.*\.json$/.test(f))
        .map((f) => readDump(join(root, dir, f)))
      // The child's own monitor's two, and the recorder's pressure dump (issue 36).
      expect(docs.map((d) => d.trigger).sort()).toEqual(['critical', 'hard', 'pressure'])
    },
  )
})
