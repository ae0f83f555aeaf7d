/**
 * Extended attributes of host files through @napi-rs/xattr (prebuilt N-API,
 * the l*xattr calls: a symlink's own attributes). Its errors carry the errno
 * only in the message ("... (os error 61)"); here they become node:fs-style
 * errors with a POSIX `code`, so DirFs and copyTree report them like any
 * other file-system error.
 */
import { constants } from 'node:os'
import { getAttributeSync, listAttributesSync, removeAttributeSync, setAttributeSync } from '@napi-rs/xattr'

const NAMES = new Map<number, string>()
for (const [name, n] of Object.entries(constants.errno)) if (!NAMES.has(n)) NAMES.set(n, name)
NAMES.set(95, 'EOPNOTSUPP')

function translated<T>(path: string, fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    const m = /os error (\d+)/.exec((err as Error).message)
    const code = m ? NAMES.get(Number(m[1])) : undefined
    if (code === undefined) throw err
    throw Object.assign(new Error(`${code}: ${(err as Error).message}, ${path}`), { code, path })
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
