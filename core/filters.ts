/**
 * The walk filter grammar of containerd's pkg/filters, as pure functions:
 *
 *   filter   := selector ( ',' selector )*          all must match (AND)
 *   selector := fieldpath [ op value ]               no op: the field is present
 *   fieldpath:= field ( '.' field )*
 *   field    := [A-Za-z_][A-Za-z0-9_-]* | quoted
 *   op       := '==' | '!=' | '~='
 *   value    := quoted | run of characters other than ',' and blanks
 *   quoted   := "..." with backslash escapes | `...` raw
 *
 * Several filter strings are OR'ed; no filters (or an empty string) match
 * everything. A string that does not parse is ERR_INVALID_ARGUMENT.
 */
import { InvalidArgumentError } from './errors.js'

export type Operator = 'present' | '==' | '!=' | '~='

export interface Selector {
  fieldpath: string[]
  op: Operator
  value: string
  regexp?: RegExp
}

/** A parsed filter set: OR over filters, AND over each filter's selectors. */
export type Filter = Selector[][]

/** How to read a field path from a record: undefined means "not present". */
export type FieldReader<T> = (record: T, fieldpath: string[]) => string | undefined

class Scanner {
  readonly #src: string
  #pos = 0
  constructor(src: string) {
    this.#src = src
  }
  get done(): boolean {
    this.skipBlanks()
    return this.#pos >= this.#src.length
  }
  skipBlanks(): void {
    while (this.#pos < this.#src.length && /\s/.test(this.#src[this.#pos])) this.#pos++
  }
  peek(n = 1): string {
    return this.#src.slice(this.#pos, this.#pos + n)
  }
  take(s: string): boolean {
    this.skipBlanks()
    if (this.#src.startsWith(s, this.#pos)) {
      this.#pos += s.length
      return true
    }
    return false
  }
  fail(what: string): never {
    throw new InvalidArgumentError(`invalid filter ${JSON.stringify(this.#src)}: ${what} at offset ${this.#pos}`)
  }
  field(): string {
    this.skipBlanks()
    const c = this.peek()
    if (c === '"' || c === '`') return this.quoted()
    const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(this.#src.slice(this.#pos))
    if (!m) this.fail('expected a field name')
    this.#pos += m[0].length
    return m[0]
  }
  value(): string {
    this.skipBlanks()
    const c = this.peek()
    if (c === '"' || c === '`') return this.quoted()
    const m = /^[^,\s]+/.exec(this.#src.slice(this.#pos))
    if (!m) this.fail('expected a value')
    this.#pos += m[0].length
    return m[0]
  }
  quoted(): string {
    const quote = this.peek()
    const start = this.#pos
    this.#pos++
    let out = ''
    while (this.#pos < this.#src.length) {
      const c = this.#src[this.#pos++]
      if (c === quote) return out
      if (c === '\\' && quote === '"') {
        out += this.escape()
      } else {
        out += c
      }
    }
    this.#pos = start
    return this.fail('unterminated quoted string')
  }
  escape(): string {
    const c = this.#src[this.#pos++]
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", '0': '\0' }
    if (c in simple) return simple[c]
    const hex = c === 'x' ? 2 : c === 'u' ? 4 : c === 'U' ? 8 : 0
    if (hex === 0) this.fail(`unknown escape \\${c ?? ''}`)
    const digits = this.#src.slice(this.#pos, this.#pos + hex)
    if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== hex) this.fail('bad hex escape')
    this.#pos += hex
    return String.fromCodePoint(parseInt(digits, 16))
  }
}

function parseSelector(sc: Scanner): Selector {
  const fieldpath = [sc.field()]
  while (sc.take('.')) fieldpath.push(sc.field())
  for (const op of ['==', '!=', '~='] as const) {
    if (!sc.take(op)) continue
    const value = sc.value()
    if (op !== '~=') return { fieldpath, op, value }
    try {
      return { fieldpath, op, value, regexp: new RegExp(value) }
    } catch (err) {
      throw new InvalidArgumentError(`invalid filter regexp ${JSON.stringify(value)}: ${(err as Error).message}`)
    }
  }
  return { fieldpath, op: 'present', value: '' }
}

/** Parses one filter string into its selectors (empty string: no selectors). */
export function parseFilter(src: string): Selector[] {
  if (typeof src !== 'string') throw new InvalidArgumentError('a filter must be a string')
  const sc = new Scanner(src)
  const selectors: Selector[] = []
  if (sc.done) return selectors
  for (;;) {
    selectors.push(parseSelector(sc))
    if (sc.done) return selectors
    if (!sc.take(',')) sc.fail('expected "," or an operator')
  }
}

/** Parses a filter list; an empty list, or any empty string in it, matches everything. */
export function parseFilters(filters: readonly string[] = []): Filter {
  if (!Array.isArray(filters)) throw new InvalidArgumentError('filters must be an array of strings')
  return filters.map(parseFilter)
}

export function matchSelector<T>(sel: Selector, record: T, read: FieldReader<T>): boolean {
  const v = read(record, sel.fieldpath)
  switch (sel.op) {
    case 'present':
      return v !== undefined
    case '==':
      return v !== undefined && v === sel.value
    case '!=':
      return (v ?? '') !== sel.value
    case '~=':
      return v !== undefined && sel.regexp!.test(v)
  }
}

export function matches<T>(filter: Filter, record: T, read: FieldReader<T>): boolean {
  if (filter.length === 0) return true
  return filter.some((selectors) => selectors.every((sel) => matchSelector(sel, record, read)))
}
