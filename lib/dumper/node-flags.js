'use strict'
// Node's flags as the process was started with them: its command line's and NODE_OPTIONS'.

/** The flags, NODE_OPTIONS' first (the command line's win when both set one). */
function nodeFlags() {
  const flags = []
  try {
    flags.push(...process.execArgv.filter((f) => typeof f === 'string'))
  } catch {}
  try {
    const o = process.env.NODE_OPTIONS
    // Node splits NODE_OPTIONS at spaces, and double quotes group (single quotes do not:
    // Node then ignores the size flags, and so does this).
    if (typeof o === 'string') flags.unshift(...(o.match(/(?:[^\s"]+|"[^"]*")+/g) ?? []).map((w) => w.replace(/"/g, '')))
  } catch {}
  return flags
}

/**
 * Whether the process aborts at an exception V8 predicts nobody catches: V8 then counts an
 * exception the addon throws into a try of ours as uncaught, so nothing of ours may throw
 * on purpose (the warm-up's refused dump).
 */
function abortsOnUncaughtException(flags = nodeFlags()) {
  return flags.some((f) => /^--abort[-_]on[-_]uncaught[-_]exception(=true)?$/.test(f))
}

module.exports = { nodeFlags, abortsOnUncaughtException }
