/**
 * Kernel mounts of `Mount[]` through mount(8) and umount(8) (root only).
 *
 * mount(2) copies one page of option data and silently truncates the rest,
 * which turns a long overlay lowerdir into baffling errors
 * (research/node-deps.md §3e). So when the options would not fit, the paths
 * are rewritten relative to their common directory and mount(8) runs with
 * that directory as its working directory, the way Docker's overlay2 and
 * containerd do; if they still do not fit, the mount fails saying so.
 */
import { execFile } from 'node:child_process'
import { readFile, mkdir } from 'node:fs/promises'
import { dirname, relative, resolve, sep } from 'node:path'
import { promisify } from 'node:util'
import { cleanupAfter } from '../core/errors.js'
import type { Mount } from '../core/snapshotter.js'

const run = promisify(execFile)

/** The kernel copies at most one page of mount data, NUL included. */
export const MOUNT_DATA_MAX = 4095

const PATH_OPTIONS = ['lowerdir', 'upperdir', 'workdir']

export class MountError extends Error {
  readonly code = 'EMOUNT'
}

function commonDir(paths: string[]): string {
  let common = dirname(paths[0])
  for (const p of paths) {
    while (common !== sep && !(p === common || p.startsWith(common + sep))) common = dirname(common)
  }
  return common
}

/** Overlay options with their paths relative to `cwd`; other mounts are left alone. */
export function fitOptions(m: Mount): { options: string[]; cwd?: string } {
  const joined = m.options.join(',')
  if (m.type !== 'overlay' || joined.length <= MOUNT_DATA_MAX) return { options: m.options }
  const paths: string[] = []
  for (const opt of m.options) {
    const [k, v] = splitOption(opt)
    if (PATH_OPTIONS.includes(k)) paths.push(...v.split(':'))
  }
  if (paths.length === 0 || paths.some((p) => !p.startsWith('/'))) return { options: m.options }
  const cwd = commonDir(paths)
  const options = m.options.map((opt) => {
    const [k, v] = splitOption(opt)
    if (!PATH_OPTIONS.includes(k)) return opt
    return `${k}=${v
      .split(':')
      .map((p) => relative(cwd, p) || '.')
      .join(':')}`
  })
  return { options, cwd }
}

function splitOption(opt: string): [string, string] {
  const i = opt.indexOf('=')
  return i < 0 ? [opt, ''] : [opt.slice(0, i), opt.slice(i + 1)]
}

/** Mounts `mounts` in order on `target` (the first on target, later ones stacked). */
export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  await mkdir(target, { recursive: true })
  let done = 0
  try {
    for (const m of mounts) {
      await mountOne(m, target)
      done++
    }
  } catch (err) {
    throw await cleanupAfter(err, async () => {
      for (; done > 0; done--) await unmount(target)
    })
  }
}

async function mountOne(m: Mount, target: string): Promise<void> {
  const { options, cwd } = fitOptions(m)
  const data = options.join(',')
  if (data.length > MOUNT_DATA_MAX) {
    throw new MountError(`mount options of ${m.type} mount on ${target} are ${data.length} bytes, over the kernel's ${MOUNT_DATA_MAX}`)
  }
  const isBind = m.type === 'bind' || options.includes('bind') || options.includes('rbind')
  const typeArgs = isBind ? [] : ['-t', m.type]
  const opts = isBind && !options.includes('bind') && !options.includes('rbind') ? ['bind', ...options] : options
  const args = [...typeArgs, ...(opts.length > 0 ? ['-o', opts.join(',')] : []), m.source, resolve(target)]
  try {
    await run('mount', args, { cwd })
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message).trim()
    throw new MountError(`mount ${m.type} ${m.source} on ${target} failed: ${stderr}`, { cause: err })
  }
}

/** Unmounts `target`; a busy mount is retried, then detached lazily. */
export async function unmount(target: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await run('umount', [resolve(target)])
      return
    } catch (err) {
      const stderr = String((err as { stderr?: string }).stderr ?? '')
      if (/not mounted|no mount point/.test(stderr)) return
      if (attempt < 3 && /busy/i.test(stderr)) {
        await new Promise((r) => setTimeout(r, 50 * (attempt + 1)))
        continue
      }
      if (/busy/i.test(stderr)) {
        await run('umount', ['-l', resolve(target)])
        return
      }
      throw new MountError(`umount ${target} failed: ${stderr.trim()}`, { cause: err })
    }
  }
}

/** Mount points at or below `path`, deepest first, from /proc/self/mountinfo. */
export async function mountsUnder(path: string): Promise<string[]> {
  const base = resolve(path)
  let info: string
  try {
    info = await readFile('/proc/self/mountinfo', 'utf8')
  } catch {
    return []
  }
  const points = info
    .split('\n')
    .filter(Boolean)
    .map((line) => unescapeMountPath(line.split(' ')[4]))
  return points.filter((p) => p === base || p.startsWith(base + sep)).sort((a, b) => b.length - a.length)
}

function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)))
}

/** Unmounts everything at or below `path` (before removing a tree: rm must never cross into a mount). */
export async function unmountUnder(path: string): Promise<void> {
  for (const p of await mountsUnder(path)) await unmount(p)
}

export async function isMountPoint(path: string): Promise<boolean> {
  return (await mountsUnder(path)).includes(resolve(path))
}

/** Mounts, runs `fn` with the mount point, and always unmounts. */
export async function withMount<T>(mounts: Mount[], target: string, fn: (dir: string) => Promise<T>): Promise<T> {
  await mountAll(mounts, target)
  try {
    return await fn(target)
  } finally {
    await unmount(target)
  }
}
