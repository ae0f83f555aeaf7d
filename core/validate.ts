/** Argument checks shared by every driver: they run before a driver sees a call. */
import { InvalidArgumentError } from './errors.js'

export const MAX_KEY_BYTES = 4096
/** containerd's metadata layer bounds a label: key plus value. */
export const MAX_LABEL_BYTES = 4096

export function checkKey(key: unknown, what = 'key'): string {
  if (typeof key !== 'string') throw new InvalidArgumentError(`${what} must be a string, got ${typeof key}`)
  if (key.length === 0) throw new InvalidArgumentError(`${what} must not be empty`)
  if (key.includes('\0')) throw new InvalidArgumentError(`${what} ${JSON.stringify(key)} contains NUL`)
  const bytes = Buffer.byteLength(key, 'utf8')
  if (bytes > MAX_KEY_BYTES) {
    throw new InvalidArgumentError(`${what} ${JSON.stringify(key.slice(0, 40))}… is ${bytes} bytes, over the limit of ${MAX_KEY_BYTES}`)
  }
  return key
}

export function checkOptionalParent(parent: unknown): string | undefined {
  if (parent === undefined || parent === '') return undefined
  return checkKey(parent, 'parent')
}

/** Validates a label map and drops empty values (they are never stored). */
export function checkLabels(labels: unknown, key: string): Record<string, string> {
  if (labels === undefined) return {}
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw new InvalidArgumentError(`labels of ${JSON.stringify(key)} must be an object of strings`)
  }
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(labels)) {
    if (typeof v !== 'string') {
      throw new InvalidArgumentError(`label ${JSON.stringify(k)} of ${JSON.stringify(key)} must be a string`)
    }
    if (k.length === 0) throw new InvalidArgumentError(`${JSON.stringify(key)} has a label with an empty key`)
    if (Buffer.byteLength(k) + Buffer.byteLength(v) > MAX_LABEL_BYTES) {
      throw new InvalidArgumentError(`label ${JSON.stringify(k.slice(0, 40))} of ${JSON.stringify(key)} is over ${MAX_LABEL_BYTES} bytes`)
    }
    if (k.includes('\0') || v.includes('\0')) {
      throw new InvalidArgumentError(`label ${JSON.stringify(k)} of ${JSON.stringify(key)} contains NUL`)
    }
    if (v !== '') out[k] = v
  }
  return out
}

export function checkOptions(opts: unknown, key: string): Record<string, string> {
  if (opts === undefined) return {}
  if (typeof opts !== 'object' || opts === null) throw new InvalidArgumentError(`options of ${JSON.stringify(key)} must be an object`)
  return checkLabels((opts as { labels?: unknown }).labels, key)
}
