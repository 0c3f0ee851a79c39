'use strict'
// A JSON Schema validator for the subset the dump schema uses, and that schema, which
// `cargo test` writes beside contract.json (lib/dump.schema.json).

const fs = require('node:fs')
const path = require('node:path')

function typeOf(v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'array'
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number'
  return typeof v
}

function codePoints(s, max) {
  // Counting stops past max: a long string is not copied into an array of characters.
  if (s.length > 2 * max) return s.length
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0xd800 || c > 0xdbff || i + 1 >= s.length) n++
  }
  return n
}

/**
 * Validates `value` against `schema`. With `{ lenient: true }` (how readers read) properties
 * the schema does not know are accepted: a newer writer of the same major version adds fields.
 */
/** Appends `more` to `list` without spreading it (a spread of a large array overflows the stack). */
function append(list, more) {
  for (const x of more) list.push(x)
}

function validate(schema, value, root = schema, at = '', opts = {}) {
  const errors = []
  const fail = (msg) => errors.push(`${at || '/'}: ${msg}`)
  if (schema === true || schema === undefined) return errors
  if (schema.$ref) {
    const target = schema.$ref
      .replace(/^#\//, '')
      .split('/')
      .reduce((o, k) => o[k], root)
    return validate(target, value, root, at, opts)
  }
  const t = typeOf(value)
  if (schema.type) {
    const types = [].concat(schema.type)
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) return [`${at || '/'}: expected ${types.join(' or ')}, got ${t}`]
  }
  if ('const' in schema && value !== schema.const) fail(`expected ${JSON.stringify(schema.const)}`)
  if (schema.enum && !schema.enum.includes(value)) fail(`expected one of ${schema.enum.join(', ')}`)
  if (typeof value === 'number' && schema.minimum !== undefined && value < schema.minimum) fail(`below ${schema.minimum}`)
  if (typeof value === 'number' && schema.maximum !== undefined && value > schema.maximum) fail(`above ${schema.maximum}`)
  if (typeof value === 'string') {
    if (schema.maxLength !== undefined && codePoints(value, schema.maxLength) > schema.maxLength) fail(`longer than ${schema.maxLength}`)
    else if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value)) fail(`does not match ${schema.pattern}`)
  }
  if (t === 'array') {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(`more than ${schema.maxItems} items`)
    if (schema.minItems !== undefined && value.length < schema.minItems) fail(`fewer than ${schema.minItems} items`)
    if (schema.items) for (let i = 0; i < value.length; i++) append(errors, validate(schema.items, value[i], root, `${at}/${i}`, opts))
  }
  if (t === 'object') {
    const keys = Object.keys(value)
    for (const k of schema.required ?? []) if (!(k in value)) fail(`missing ${k}`)
    if (schema.maxProperties !== undefined && keys.length > schema.maxProperties) fail(`more than ${schema.maxProperties} properties`)
    for (const k of keys) {
      if (schema.propertyNames) append(errors, validate(schema.propertyNames, k, root, `${at}/${k} (name)`, opts))
      if (schema.properties && k in schema.properties) append(errors, validate(schema.properties[k], value[k], root, `${at}/${k}`, opts))
      else if (schema.additionalProperties === false) {
        if (!opts.lenient) fail(`unexpected property ${k}`)
      } else if (typeof schema.additionalProperties === 'object') append(errors, validate(schema.additionalProperties, value[k], root, `${at}/${k}`, opts))
    }
  }
  if (schema.oneOf && schema.oneOf.filter((s) => validate(s, value, root, at, opts).length === 0).length !== 1) fail('does not match exactly one alternative')
  if (schema.anyOf && !schema.anyOf.some((s) => validate(s, value, root, at, opts).length === 0)) fail('matches no alternative')
  if (schema.not && validate(schema.not, value, root, at, opts).length === 0) fail('matches a forbidden shape')
  if (schema.if) {
    const branch = validate(schema.if, value, root, at, opts).length === 0 ? schema.then : schema.else
    if (branch) append(errors, validate(branch, value, root, at, opts))
  }
  return errors
}

let schemaCache
function schema() {
  schemaCache ??= JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'dump.schema.json'), 'utf8'))
  return schemaCache
}

module.exports = { schema, validate }
