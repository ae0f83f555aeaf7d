/**
 * FIFOs and device nodes. Node has no mknod(2), so this runs coreutils'
 * mknod(1); such nodes are rare in images (a few per layer at most).
 */
import { execFile } from 'node:child_process'
import { chmod } from 'node:fs/promises'
import { promisify } from 'node:util'

const run = promisify(execFile)

export type NodeType = 'fifo' | 'char' | 'block'

export function major(rdev: number): number {
  return ((rdev >>> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff)
}

export function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >>> 12) & 0xfff00)
}

export function makedev(maj: number, min: number): number {
  return ((maj & 0xfff) << 8) + (min & 0xff) + ((min & ~0xff) << 12) + (maj & ~0xfff) * 2 ** 32
}

/** Creates the node with exactly `mode` (no umask). Fails with the errno code mknod(1) reports. */
export async function mknodAt(path: string, type: NodeType, mode: number, rdev = 0): Promise<void> {
  const args = type === 'fifo' ? [path, 'p'] : [path, type === 'char' ? 'c' : 'b', String(major(rdev)), String(minor(rdev))]
  try {
    await run('mknod', ['-m', (mode & 0o777).toString(8), ...args])
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '')
    const code = /File exists/.test(stderr)
      ? 'EEXIST'
      : /No such file/.test(stderr)
        ? 'ENOENT'
        : /Not a directory/.test(stderr)
          ? 'ENOTDIR'
          : /Read-only/.test(stderr)
            ? 'EROFS'
            : /not permitted/.test(stderr)
              ? 'EPERM'
              : 'EIO'
    throw Object.assign(new Error(`${code}: mknod '${path}': ${stderr.trim()}`), { code, syscall: 'mknod', path })
  }
  // mknod(1) -m cannot set setuid/setgid/sticky on every system; chmod can.
  if (mode & 0o7000) await chmod(path, mode & 0o7777)
}
