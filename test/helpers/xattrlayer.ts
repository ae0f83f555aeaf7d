/**
 * A layer as GNU tar writes it with `--xattrs --xattrs-include='*'
 * --format=pax`: under opt/, a setcap'd binary (security.capability,
 * cap_net_raw+ep), user.* on a directory and on a file (one value not
 * UTF-8), a symlink with a trusted.* attribute and a time of its own, and
 * nanosecond mtimes. Needs root, setcap, setfattr and GNU tar.
 */
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { hostGetXattr, hostListXattrs } from '../../fs/hostxattr.js'

export const XATTR_PATHS = ['/opt', '/opt/cap', '/opt/cap/ping', '/opt/data', '/opt/data/note', '/opt/data/link']

export interface XattrLayer {
  /** The host tree the layer was made from. */
  src: string
  tar: Buffer
}

export async function buildXattrLayer(dir: string): Promise<XattrLayer> {
  const src = join(dir, 'xattr-src')
  const x = (...args: string[]) => execFileSync(args[0], args.slice(1))
  await mkdir(join(src, 'opt', 'cap'), { recursive: true })
  await mkdir(join(src, 'opt', 'data'))
  await writeFile(join(src, 'opt', 'cap', 'ping'), '#!/bin/sh\necho ping\n', { mode: 0o755 })
  await writeFile(join(src, 'opt', 'data', 'note'), 'hello\n')
  await symlink('note', join(src, 'opt', 'data', 'link'))
  x('setcap', 'cap_net_raw+ep', join(src, 'opt', 'cap', 'ping'))
  x('setfattr', '-n', 'user.kind', '-v', 'directory', join(src, 'opt', 'data'))
  x('setfattr', '-n', 'user.blob', '-v', '0x00ff80fe0a3d', join(src, 'opt', 'data', 'note'))
  x('setfattr', '-h', '-n', 'trusted.link', '-v', 'mine', join(src, 'opt', 'data', 'link'))
  for (const p of ['opt/cap/ping', 'opt/data/note', 'opt/data', 'opt/cap', 'opt']) x('touch', '-d', '@1700000000.123456789', join(src, p))
  x('touch', '-h', '-d', '@1600000000.5', join(src, 'opt', 'data', 'link'))
  const out = join(dir, 'xattr-layer.tar')
  x(
    'tar',
    '--xattrs',
    '--xattrs-include=*',
    '--format=pax',
    '--sort=name',
    '--pax-option=delete=atime,delete=ctime',
    '-C',
    src,
    '-cf',
    out,
    'opt',
  )
  return { src, tar: await readFile(out) }
}

export type TreeView = Record<string, { xattrs: Record<string, string>; mtimeNs: bigint }>

/** What a host tree holds at XATTR_PATHS: every xattr (hex) and the mtime in ns. */
export function hostTreeView(root: string): TreeView {
  const out: TreeView = {}
  for (const p of XATTR_PATHS) {
    const real = join(root, p)
    const xattrs: Record<string, string> = {}
    for (const n of hostListXattrs(real).sort()) xattrs[n] = hostGetXattr(real, n)!.toString('hex')
    const [s, f] = execFileSync('stat', ['-c', '%.9Y', real]).toString().trim().split('.')
    out[p] = { xattrs, mtimeNs: BigInt(s) * 1_000_000_000n + BigInt(f) }
  }
  return out
}
