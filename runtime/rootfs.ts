/**
 * What `strata run` reads from the container's files before it starts the
 * process, so a bad command or user fails with one clear line and leaves
 * nothing behind (runc would fail only after the container exists): the
 * executable the command names, and the user the image asks for. Reads go
 * through SnapshotFs, which resolves symlinks inside the snapshot as chroot does.
 */
import { errnoCode, NotFoundError } from '../core/errors.js'
import type { SnapshotFs } from '../core/snapshotter.js'
import type { ProcessUser } from './bundle.js'

/** Throws ERR_NOT_FOUND unless `cmd` names an executable file in the snapshot. */
export async function checkExecutable(fs: SnapshotFs, cmd: string, opts: { path: string[]; cwd: string }): Promise<string> {
  const candidates = cmd.includes('/')
    ? [cmd.startsWith('/') ? cmd : `${opts.cwd.replace(/\/$/, '')}/${cmd}`]
    : opts.path.map((dir) => `${dir.replace(/\/$/, '')}/${cmd}`)
  for (const p of candidates) {
    const st = await fs.stat(p).catch((err: unknown) => {
      if (['ENOENT', 'ENOTDIR', 'ELOOP'].includes(errnoCode(err) ?? '')) return undefined
      throw err
    })
    if (st?.type === 'file' && (st.mode & 0o111) !== 0) return p
  }
  const where = cmd.includes('/') ? '' : ` on PATH ${opts.path.join(':')}`
  throw new NotFoundError(`command ${JSON.stringify(cmd)} is not an executable file in the image${where}`)
}

/** `uid`, `uid:gid`, `name`, `name:group` or empty (root), looked up in the image's /etc/passwd and /etc/group. */
export async function resolveUser(fs: SnapshotFs, spec: string | undefined): Promise<ProcessUser> {
  if (!spec) return { uid: 0, gid: 0 }
  const [userPart, groupPart] = spec.split(':', 2)
  const passwd = await table(fs, '/etc/passwd')
  const entry = /^\d+$/.test(userPart) ? passwd.find((f) => f[2] === userPart) : passwd.find((f) => f[0] === userPart)
  if (!entry && !/^\d+$/.test(userPart)) throw new NotFoundError(`user ${JSON.stringify(userPart)} is not in the image's /etc/passwd`)
  const uid = Number(entry?.[2] ?? userPart)
  let gid = Number(entry?.[3] ?? 0)
  if (groupPart !== undefined) {
    if (/^\d+$/.test(groupPart)) gid = Number(groupPart)
    else {
      const group = (await table(fs, '/etc/group')).find((f) => f[0] === groupPart)
      if (!group) throw new NotFoundError(`group ${JSON.stringify(groupPart)} is not in the image's /etc/group`)
      gid = Number(group[2])
    }
  }
  return { uid, gid }
}

/** The colon-separated fields of each line of a passwd-style file; a missing file is empty. */
async function table(fs: SnapshotFs, path: string): Promise<string[][]> {
  try {
    return (await fs.readFile(path))
      .toString('utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(':'))
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return []
    throw err
  }
}
