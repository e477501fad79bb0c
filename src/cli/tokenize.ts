/**
 * Splits one shell line into words. Pure.
 *
 * Rules:
 * - Words are separated by spaces and tabs.
 * - `"…"` quotes a word part; inside it, `\"`, `\\`, `\n`, `\t` are escapes (and `\r`,
 *   `\uXXXX`, so every string the shell prints in quotes can be typed back). Any other
 *   backslash escape is an error.
 * - `` `…` `` quotes a word part literally: no escapes, so backslashes and `"` stand for themselves.
 * - Quoted and unquoted parts next to each other form one word (`a"b c"` is `ab c`); `""` is an
 *   empty word.
 * - Outside quotes a backslash is an ordinary character.
 * - An unterminated quote is an error.
 */
import { accept, reject } from './verdict.js'
import type { Verdict } from './verdict.js'

const SEPARATORS = new Set([' ', '\t', '\r', '\n', '\v', '\f'])

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t', r: '\r' }

/** Split `line` into words, or reject it (unterminated quote, unknown escape). */
export function tokenize (line: string): Verdict<string[]> {
  const words: string[] = []
  let word = ''
  let inWord = false
  let i = 0

  while (i < line.length) {
    const ch = line[i]
    if (SEPARATORS.has(ch)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
      i++
      continue
    }
    inWord = true

    if (ch === '`') {
      const end = line.indexOf('`', i + 1)
      if (end === -1) return reject('unterminated ` quote')
      word += line.slice(i + 1, end)
      i = end + 1
      continue
    }

    if (ch === '"') {
      i++
      let closed = false
      while (i < line.length) {
        const c = line[i]
        if (c === '"') {
          closed = true
          i++
          break
        }
        if (c !== '\\') {
          word += c
          i++
          continue
        }
        const e = line[i + 1]
        if (e === undefined) break
        if (e === 'u') {
          const hex = line.slice(i + 2, i + 6)
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) return reject('bad escape \\u in "…": expected \\u and 4 hex digits')
          word += String.fromCharCode(parseInt(hex, 16))
          i += 6
          continue
        }
        const replacement = ESCAPES[e]
        if (replacement === undefined) {
          return reject(`unknown escape \\${e} in "…"; use \\" \\\\ \\n \\t, or \`…\` for literal text`)
        }
        word += replacement
        i += 2
      }
      if (!closed) return reject('unterminated " quote')
      continue
    }

    word += ch
    i++
  }
  if (inWord) words.push(word)
  return accept(words)
}
