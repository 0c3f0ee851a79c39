// A host CLI's own bug-report command offering the bundle: one .zip with the most recent
// crash's dumps, trail, summary and timeline, redacted (home directory, user and host
// names), at most 2 MiB. Run as `node bug-report.js <diagnostics directory> [output.zip]`.
import { bundle } from 'memory-diagnostics-dumper'

export async function bugReport(directory: string, output?: string): Promise<string> {
  try {
    const { path, bytes, files } = await bundle(directory, { output, maxBytes: 2 * 2 ** 20 })
    return `Attach ${path} (${(bytes / 1024).toFixed(0)} KiB, ${files.length} files) to your bug report.`
  } catch (e) {
    // Nothing to send (no dumps yet) or an unusable directory: say so, never crash the CLI.
    return `No memory diagnostics to attach: ${(e as Error).message}`
  }
}

if (process.argv[2]) void bugReport(process.argv[2], process.argv[3]).then((line) => console.log(line))
