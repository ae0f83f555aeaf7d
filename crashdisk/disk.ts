/**
 * Recording a workload on the crash disk: an ext4 image served by our own
 * FUSE server (`server.ts`, which logs every write and flush), a loop device
 * over it with direct I/O (so the file system's flushes reach the server as
 * fsync, and no page cache of the image hides writes), ext4 mounted on the
 * loop device, and the workload (`child.ts`) run on a store in that ext4.
 *
 * Everything made here is taken down in `finally` blocks by what was made:
 * the mount by its path, the loop device by the name `losetup -f --show`
 * printed, the server by its pid.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import type { ChildSpec } from './child.js'

export const run = promisify(execFile)

/** The compiled sibling script `name` (the crash disk always runs from dist/). */
export function script(name: string): string {
  const here = fileURLToPath(new URL('.', import.meta.url))
  const dist = here.includes('/dist/') ? here : join(here, '..', 'dist', 'crashdisk')
  return join(dist, name)
}

/** A fresh ext4 image: every inode table and the journal written now, so mkfs's lazy init never runs under the log. */
export async function makeBaseImage(path: string, sizeMiB: number): Promise<void> {
  await run('truncate', ['-s', `${sizeMiB}M`, path])
  await run('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', path])
}

function waitReady(child: ChildProcess, what: string, ms = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${what} did not start in ${ms} ms: ${out}`)), ms)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('ready')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()))
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${what} exited with ${code}: ${out}`))
    })
  })
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    child.on('exit', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

async function stopServer(server: ChildProcess, mnt: string): Promise<void> {
  server.kill('SIGTERM')
  if (await exited(server, 10_000)) return
  server.kill('SIGKILL')
  await exited(server, 5_000)
  await run('fusermount', ['-uz', mnt]).catch(() => {})
}

export interface Recording {
  /** The directory holding the log (remove it when done). */
  dir: string
  log: string
  /** The workload's exit code and stderr: a workload that failed on a healthy disk is a bug of its own. */
  code: number | null
  stderr: string
}

/**
 * Runs the workload `spec` (its root and mark are set here) on a fresh copy of
 * `base` under the crash disk, and returns the log.
 */
export async function recordWorkload(
  work: string,
  base: string,
  spec: Omit<ChildSpec, 'root' | 'mark'>,
  env: NodeJS.ProcessEnv = {},
): Promise<Recording> {
  const dir = await mkdtemp(join(work, 'rec-'))
  const image = join(dir, 'disk.img')
  const fuse = join(dir, 'fuse')
  const mnt = join(dir, 'mnt')
  const log = join(dir, 'log')
  await run('cp', ['--sparse=always', base, image])
  await mkdir(mnt)
  const server = spawn(process.execPath, [script('server.js'), fuse, image, log], { stdio: ['ignore', 'pipe', 'pipe'] })
  let loop: string | undefined
  let mounted = false
  try {
    await waitReady(server, 'crash disk server')
    loop = (await run('losetup', ['-f', '--show', '--direct-io=on', join(fuse, 'disk')])).stdout.trim()
    await run('mount', ['-t', 'ext4', loop, mnt])
    mounted = true
    const full: ChildSpec = { ...spec, root: join(mnt, 'store'), mark: join(fuse, 'mark') }
    const child = spawn(process.execPath, [script('child.js'), JSON.stringify(full)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...env },
    })
    let stderr = ''
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
    return { dir, log, code, stderr }
  } finally {
    if (mounted) await run('umount', [mnt])
    if (loop !== undefined) await run('losetup', ['-d', loop])
    await stopServer(server, fuse)
    await rm(image, { force: true })
  }
}

/** Mounts the ext4 image `image` on `mnt` through a loop device of its own, runs `fn`, and takes both down. */
export async function withMountedImage<T>(image: string, mnt: string, fn: () => Promise<T>): Promise<T> {
  const loop = (await run('losetup', ['-f', '--show', image])).stdout.trim()
  try {
    await run('mount', ['-t', 'ext4', loop, mnt])
    try {
      return await fn()
    } finally {
      await run('umount', [mnt])
    }
  } finally {
    await run('losetup', ['-d', loop])
  }
}
