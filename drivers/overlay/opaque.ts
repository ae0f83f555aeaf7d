/**
 * Opaque directories of a diff/ tree: those whose `trusted.overlay.opaque`
 * xattr is "y" (the kernel's mark for "hide what the lower layers have
 * here"). One walk of the tree's directories reads the flag of each through
 * the xattr binding (fs/hostxattr.ts), a syscall per directory, with no
 * process to start and no output to parse (names stay bytes-exact).
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { hostGetXattr } from '../../fs/hostxattr.js'

export const OPAQUE_XATTR = 'trusted.overlay.opaque'

/** Paths (relative to `dir`, '' for `dir` itself) of the opaque directories under `dir`. */
export async function opaqueDirs(dir: string): Promise<Set<string>> {
  const found = new Set<string>()
  const visit = (abs: string, rel: string): void => {
    if (hostGetXattr(abs, OPAQUE_XATTR)?.toString('latin1') === 'y') found.add(rel)
    for (const ent of readdirSync(abs, { withFileTypes: true })) {
      if (ent.isDirectory()) visit(join(abs, ent.name), rel === '' ? ent.name : `${rel}/${ent.name}`)
    }
  }
  visit(dir, '')
  return found
}
