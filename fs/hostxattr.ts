/**
 * Extended attributes of host files through @napi-rs/xattr (prebuilt N-API,
 * the l*xattr calls: a symlink's own attributes). Its errors carry the errno
 * only in the message ("... (os error 61)"); here they become node:fs-style
 * errors with a POSIX `code`, so DirFs and copyTree report them like any
 * other file-system error.
 */
import { constants } from 'node:os'
import {
  getAttribute,
  getAttributeSync,
  listAttributes,
  listAttributesSync,
  removeAttribute,
  removeAttributeSync,
  setAttribute,
  setAttributeSync,
} from '@napi-rs/xattr'

const NAMES = new Map<number, string>()
for (const [name, n] of Object.entries(constants.errno)) if (!NAMES.has(n)) NAMES.set(n, name)
NAMES.set(95, 'EOPNOTSUPP')

function posixOf(path: string, err: unknown): unknown {
  const m = /os error (\d+)/.exec((err as Error).message)
  const code = m ? NAMES.get(Number(m[1])) : undefined
  if (code === undefined) return err
  return Object.assign(new Error(`${code}: ${(err as Error).message}, ${path}`), { code, path })
}

function translated<T>(path: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    throw posixOf(path, err)
  }
}

async function translatedAsync<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    throw posixOf(path, err)
  }
}

/** The value, or undefined when the name is missing (ENODATA). */
export function hostGetXattr(path: string, name: string): Buffer | undefined {
  const v = translated(path, () => getAttributeSync(path, name))
  return v === null ? undefined : Buffer.from(v)
}

export function hostSetXattr(path: string, name: string, value: Buffer): void {
  translated(path, () => setAttributeSync(path, name, value))
}

export function hostListXattrs(path: string): string[] {
  return translated(path, () => listAttributesSync(path))
}

export function hostRemoveXattr(path: string, name: string): void {
  translated(path, () => removeAttributeSync(path, name))
}

/**
 * The same calls on the thread pool, for a file system that must never block
 * the event loop (a DirFs over a FUSE mount this process serves).
 */
export const hostXattrsAsync = {
  async get(path: string, name: string): Promise<Buffer | undefined> {
    const v = await translatedAsync(path, () => getAttribute(path, name))
    return v === null || v === undefined ? undefined : Buffer.from(v)
  },
  set: (path: string, name: string, value: Buffer): Promise<void> => translatedAsync(path, () => setAttribute(path, name, value)),
  list: (path: string): Promise<string[]> => translatedAsync(path, () => listAttributes(path)),
  remove: (path: string, name: string): Promise<void> => translatedAsync(path, () => removeAttribute(path, name)),
}
