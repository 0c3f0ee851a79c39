'use strict'
// What `bundle` replaces on the way out: the rules made from this machine and this
// process's environment (home directory, user and host names), the place rule for script
// names and URLs (lib/rules/places.js), applied to every string and key of a JSON value,
// each change counted and the first ones kept for --show.

const os = require('node:os')
const { redactPlace, redactText, replaceHome } = require('./places')

/** Redactions listed one by one by --show (all are counted). */
const SHOWN_REDACTIONS = 200

const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * What is replaced on the way out, from this machine and this process's environment: the home
 * directory (os.homedir(), HOME, USERPROFILE) becomes `~`, the user name (os.userInfo(), USER,
 * LOGNAME, USERNAME) `<user>`, the host name (os.hostname(), its first label, HOSTNAME,
 * COMPUTERNAME) `<host>`. Names are matched case-insensitively as words: not inside a longer
 * run of letters and digits, and not as a `scheme:` prefix (a user named `node` leaves
 * `node:internal/…` alone). A user or host name shorter than MIN_NAME_CHARS is not matched as
 * a word at all (`vm` would take `vm` out of every mention of the vm module); it is still
 * removed from paths with the home directory. `identity` replaces what this machine says,
 * for tests.
 */
const MIN_NAME_CHARS = 3
/**
 * Account and host names that identify nobody and are also words a dump needs: the default
 * users of container images and CI runners (a user `node` would otherwise turn every process
 * named `node` into `<user>`). They are not matched as words.
 */
const GENERIC_NAMES = new Set([
  'root',
  'node',
  'app',
  'user',
  'admin',
  'ubuntu',
  'debian',
  'runner',
  'vscode',
  'codespace',
  'nobody',
  'www-data',
  'localhost',
  'docker',
])
function redactionRules(env = process.env, identity = {}) {
  const uniq = (list, min) => [...new Set(list.filter((v) => typeof v === 'string' && v.trim().length >= min).map((v) => v.trim()))]
  let info = {}
  try {
    info = os.userInfo()
  } catch {}
  if (identity.user !== undefined || identity.home !== undefined) info = { username: identity.user, homedir: identity.home }
  const homes = uniq([identity.home ?? os.homedir(), env.HOME, env.USERPROFILE, info.homedir], 2)
    .map((h) => h.replace(/[\\/]+$/, ''))
    .filter((h) => h.length >= 2)
    .sort((a, b) => b.length - a.length)
  const specific = (list) => list.filter((v) => !GENERIC_NAMES.has(v.toLowerCase()))
  const users = specific(uniq([info.username, env.USER, env.LOGNAME, env.USERNAME], MIN_NAME_CHARS)).sort((a, b) => b.length - a.length)
  const host = identity.host ?? os.hostname()
  const hosts = specific(uniq([host, host.split('.')[0], env.HOSTNAME, env.COMPUTERNAME], MIN_NAME_CHARS)).sort((a, b) => b.length - a.length)
  const word = (values) => new RegExp(`(?<![A-Za-z0-9])(?:${values.map(reEscape).join('|')})(?![A-Za-z0-9]|:[A-Za-z])`, 'gi')
  const rules = []
  // A home directory is a path prefix: it ends where a path component ends.
  if (homes.length)
    rules.push({
      what: 'home directory',
      replacement: '~',
      nameReplacement: 'home',
      values: homes,
      homes,
      re: new RegExp(`(?:${homes.map(reEscape).join('|')})(?![A-Za-z0-9_.-])`, 'g'),
    })
  if (users.length) rules.push({ what: 'user name', replacement: '<user>', nameReplacement: 'user', values: users, re: word(users) })
  if (hosts.length) rules.push({ what: 'host name', replacement: '<host>', nameReplacement: 'host', values: hosts, re: word(hosts) })
  return rules
}

/** The place rule's entry in the manifest (lib/rules/places.js): applied to every string before the others. */
const URL_RULE = {
  what: 'script names and URLs',
  replacement: 'the place rule: no query, fragment or credentials, no data:/blob:/javascript: content, file URLs as their path',
  nameReplacement: null,
  values: [],
}

/**
 * Applies the rules to one string; counts each rule's matches in `tally`. First the place
 * rule (lib/rules/places.js): a frame's `script` as a whole place, any other string for the URLs
 * inside it; then the home directory at path boundaries, plain or percent-encoded, and the
 * names. `key` is the string's key in its object.
 */
function redactString(s, rules, tally, forName = false, key = '') {
  let out = s
  if (!forName) {
    const before = out
    out = key === 'script' ? redactPlace(out, null) : redactText(out, null)
    if (out !== before) tally[URL_RULE.what] = (tally[URL_RULE.what] ?? 0) + 1
  }
  for (const r of rules) {
    if (r.homes && !forName) {
      for (const h of r.homes) {
        const { text, count } = replaceHome(out, h)
        if (count) tally[r.what] = (tally[r.what] ?? 0) + count
        out = text
      }
      continue
    }
    out = out.replace(r.re, () => {
      tally[r.what] = (tally[r.what] ?? 0) + 1
      return forName ? r.nameReplacement : r.replacement
    })
  }
  return out
}

/** Keys whose values must stay valid file-name parts (the schema's patterns): redacted without `<>~`. */
const NAME_KEYS = new Set(['sessionId', 'file'])

/**
 * A deep copy of a parsed JSON value with every key and string redacted. Each changed string
 * is recorded in `changes` (where, before, after) for --show; never in the bundle itself.
 */
function redactJson(value, rules, ctx, at = '') {
  if (typeof value === 'string') {
    const key = at.slice(at.lastIndexOf('/') + 1)
    const out = redactString(value, rules, ctx.tally, NAME_KEYS.has(key), key)
    if (out !== value) note(ctx, at, value, out)
    return out
  }
  if (Array.isArray(value)) return value.map((v, i) => redactJson(v, rules, ctx, `${at}/${i}`))
  if (value && typeof value === 'object') {
    const out = {}
    for (const [k, v] of Object.entries(value)) {
      const k2 = redactString(k, rules, ctx.tally)
      if (k2 !== k) note(ctx, `${at}/(key)`, k, k2)
      out[k2] = redactJson(v, rules, ctx, `${at}/${k}`)
    }
    return out
  }
  return value
}

function note(ctx, at, before, after) {
  ctx.changed++
  if (ctx.changes.length < SHOWN_REDACTIONS) ctx.changes.push({ file: ctx.file, at: at || '/', before, after })
}

module.exports = { GENERIC_NAMES, MIN_NAME_CHARS, SHOWN_REDACTIONS, URL_RULE, note, redactJson, redactString, redactionRules }
