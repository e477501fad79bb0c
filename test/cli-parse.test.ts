/**
 * The shell's pure parsing: lines → words (tokenize) → typed commands (commands).
 */
import test from 'ava'
import { tokenize } from '../src/cli/tokenize.js'
import { parseCommand, parseCount, parseLine } from '../src/cli/commands.js'
import type { Command } from '../src/cli/commands.js'
import { InvalidArgumentError } from '../src/errors.js'

const words: Array<[line: string, expected: string[]]> = [
  ['set a 1', ['set', 'a', '1']],
  ['  set\ta   1  ', ['set', 'a', '1']],
  ['', []],
  ['set k "hello world"', ['set', 'k', 'hello world']],
  ['set k `hello world`', ['set', 'k', 'hello world']],
  ['set "" ""', ['set', '', '']],
  ['scan ""', ['scan', '']],
  ['set k "a\\"b"', ['set', 'k', 'a"b']],
  ['set k "a\\\\b"', ['set', 'k', 'a\\b']],
  ['set k "a\\nb\\tc"', ['set', 'k', 'a\nb\tc']],
  ['set k "\\r\\u00e9\\u0041"', ['set', 'k', '\ré' + 'A']],
  ['set k `a\\nb "c"`', ['set', 'k', 'a\\nb "c"']],
  ['set k a\\b', ['set', 'k', 'a\\b']],
  ['set k ab"c d"e', ['set', 'k', 'abc de']],
  ['set k "a"`b`', ['set', 'k', 'ab']],
  ['set k "`"', ['set', 'k', '`']],
  ['set k `"`', ['set', 'k', '"']],
  ['set ключ значение', ['set', 'ключ', 'значение']]
]

for (const [line, expected] of words) {
  test(`tokenize splits ${JSON.stringify(line)} into ${JSON.stringify(expected)}`, (t) => {
    t.deepEqual(tokenize(line), { ok: true, value: expected })
  })
}

const badLines: Array<[line: string, message: RegExp]> = [
  ['set k "abc', /unterminated " quote/],
  ['set k "abc\\"', /unterminated " quote/],
  ['set k "abc\\', /unterminated " quote/],
  ['set k `abc', /unterminated ` quote/],
  ['set k "a\\qb"', /unknown escape \\q/],
  ['set k "\\u12"', /bad escape \\u/],
  ['set k "\\u12zz"', /bad escape \\u/]
]

for (const [line, message] of badLines) {
  test(`tokenize rejects ${JSON.stringify(line)} with INVALID_ARGUMENT`, (t) => {
    const v = tokenize(line)
    if (v.ok) return t.fail('accepted')
    t.true(v.error instanceof InvalidArgumentError)
    t.is(v.error.code, 'INVALID_ARGUMENT')
    t.regex(v.error.message, message)
  })
}

const commands: Array<[line: string, expected: Command]> = [
  ['set k v', { name: 'set', key: 'k', value: 'v', modifiers: {} }],
  ['SET K V', { name: 'set', key: 'K', value: 'V', modifiers: {} }],
  ['set k nx', { name: 'set', key: 'k', value: 'nx', modifiers: {} }],
  ['set k v nx', { name: 'set', key: 'k', value: 'v', modifiers: { ifNotExists: true } }],
  ['set k v XX', { name: 'set', key: 'k', value: 'v', modifiers: { ifExists: true } }],
  ['set k v ex 1500', { name: 'set', key: 'k', value: 'v', modifiers: { ttlMs: 1500 } }],
  ['set k v Ex 0', { name: 'set', key: 'k', value: 'v', modifiers: { ttlMs: 0 } }],
  ['set k v cmp old', { name: 'set', key: 'k', value: 'v', modifiers: { ifValue: 'old' } }],
  ['set k v cmp "old value"', { name: 'set', key: 'k', value: 'v', modifiers: { ifValue: 'old value' } }],
  ['set k v CMPREV 7', { name: 'set', key: 'k', value: 'v', modifiers: { ifRevision: 7 } }],
  ['set k v xx ex 10 cmp a cmprev 3', { name: 'set', key: 'k', value: 'v', modifiers: { ifExists: true, ttlMs: 10, ifValue: 'a', ifRevision: 3 } }],
  ['set k v cmprev 0 nx', { name: 'set', key: 'k', value: 'v', modifiers: { ifRevision: 0, ifNotExists: true } }],
  ['set "a key" "a value"', { name: 'set', key: 'a key', value: 'a value', modifiers: {} }],
  ['get k', { name: 'get', key: 'k' }],
  ['Get k AT 12', { name: 'get', key: 'k', atRevision: 12 }],
  ['del k', { name: 'del', key: 'k' }],
  ['DEL k', { name: 'del', key: 'k' }],
  ['exists k', { name: 'exists', key: 'k' }],
  ['extend k 5000', { name: 'extend', key: 'k', ttlMs: 5000 }],
  ['extend k 0', { name: 'extend', key: 'k', ttlMs: 0 }],
  ['scan user/', { name: 'scan', prefix: 'user/' }],
  ['scan ""', { name: 'scan', prefix: '' }],
  ['scan a LIMIT 2', { name: 'scan', prefix: 'a', limit: 2 }],
  ['status', { name: 'status' }],
  ['members', { name: 'members' }],
  ['MEMBERS', { name: 'members' }],
  ['force-primary yes', { name: 'force-primary' }],
  ['FORCE-PRIMARY YES', { name: 'force-primary' }],
  ['HELP', { name: 'help' }],
  ['Exit', { name: 'exit' }]
]

for (const [line, expected] of commands) {
  test(`parseLine reads ${JSON.stringify(line)} as a ${expected.name} command`, (t) => {
    t.deepEqual(parseLine(line), { ok: true, value: expected })
  })
}

for (const line of ['', '   ', '\t', '# a comment', '   # indented comment', '#set a 1']) {
  test(`parseLine ignores the blank or comment line ${JSON.stringify(line)}`, (t) => {
    t.deepEqual(parseLine(line), { ok: true, value: undefined })
  })
}

const badCommands: Array<[line: string, message: RegExp]> = [
  ['frob', /^unknown command "frob"; try help$/],
  ['frob a b', /^unknown command "frob"; try help$/],
  ['set', /set needs KEY and VALUE/],
  ['set k', /set needs KEY and VALUE/],
  ['set k v zz', /unknown modifier "zz" for set/],
  ['set k v nx nx', /modifier nx given twice/],
  ['set k v ex', /modifier ex needs MS/],
  ['set k v cmp', /modifier cmp needs VALUE/],
  ['set k v cmprev', /modifier cmprev needs REV/],
  ['set k v ex 1.5', /ex MS must be a non-negative decimal integer, got "1.5"/],
  ['set k v ex -1', /must be a non-negative decimal integer, got "-1"/],
  ['set k v ex 1e3', /must be a non-negative decimal integer, got "1e3"/],
  ['set k v ex abc', /must be a non-negative decimal integer, got "abc"/],
  ['set k v ex 0x10', /must be a non-negative decimal integer/],
  ['set k v ex ""', /must be a non-negative decimal integer, got ""/],
  ['set k v ex 99999999999999999999', /too large/],
  ['set k v cmprev 2.0', /cmprev REV must be a non-negative decimal integer/],
  ['get', /get needs KEY/],
  ['get k at', /modifier at needs REV/],
  ['get k at -3', /at REV must be a non-negative decimal integer/],
  ['get k limit 3', /unknown modifier "limit" for get/],
  ['get k nx', /unknown modifier "nx" for get/],
  ['del', /del needs more arguments/],
  ['del a b', /del takes 1 argument/],
  ['exists', /exists needs more arguments/],
  ['extend k', /extend needs more arguments/],
  ['extend k 1 2', /extend takes 2 arguments/],
  ['extend k soon', /extend MS must be a non-negative decimal integer, got "soon"/],
  ['scan', /scan needs PREFIX/],
  ['scan a limit', /modifier limit needs N/],
  ['scan a limit +5', /limit N must be a non-negative decimal integer/],
  ['scan a at 3', /unknown modifier "at" for scan/],
  ['status now', /status takes no arguments/],
  ['members all', /members takes no arguments/],
  ['help me', /help takes no arguments/],
  ['exit 0', /exit takes no arguments/],
  ['force-primary', /acknowledged writes it never received are lost.*type: force-primary yes$/],
  ['force-primary no', /type: force-primary yes$/],
  ['force-primary yes please', /type: force-primary yes$/],
  ['set k "v', /unterminated " quote/]
]

for (const [line, message] of badCommands) {
  test(`parseLine rejects ${JSON.stringify(line)} with INVALID_ARGUMENT`, (t) => {
    const v = parseLine(line)
    if (v.ok) return t.fail(`accepted as ${JSON.stringify(v.value)}`)
    t.true(v.error instanceof InvalidArgumentError)
    t.is(v.error.code, 'INVALID_ARGUMENT')
    t.regex(v.error.message, message)
  })
}

test('parseCommand rejects an empty word list', (t) => {
  t.false(parseCommand([]).ok)
})

test('parseCount accepts exactly the non-negative decimal integers', (t) => {
  t.deepEqual(parseCount('0', 'n'), { ok: true, value: 0 })
  t.deepEqual(parseCount('007', 'n'), { ok: true, value: 7 })
  t.deepEqual(parseCount('9007199254740991', 'n'), { ok: true, value: Number.MAX_SAFE_INTEGER })
  for (const bad of ['', ' 1', '1 ', '1.5', '-1', '+1', '1e3', '0x1', 'abc', '١', '9007199254740992', 'Infinity']) {
    t.false(parseCount(bad, 'n').ok, bad)
  }
})
