/** Lookups on the host: an executable on PATH, the filesystem types the kernel mounts. */
import { access, constants, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** The full path of executable `name` on the host's PATH, or undefined. */
export async function hasExecutable(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const p = join(dir, name)
    if (
      await access(p, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return p
  }
  return undefined
}

/** Filesystem types in /proc/filesystems, plus bind (a mount option, not a filesystem). */
export async function kernelMountTypes(): Promise<Set<string>> {
  const text = await readFile('/proc/filesystems', 'utf8').catch(() => '')
  const types = text
    .split('\n')
    .map((l) => l.split('\t').at(-1)?.trim() ?? '')
    .filter(Boolean)
  return new Set([...types, 'bind', 'rbind'])
}
