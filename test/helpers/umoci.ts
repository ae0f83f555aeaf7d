/**
 * Builds the test image with real tools: a busybox-static root filesystem
 * packed by `umoci repack` (base), a second layer that deletes files, deletes
 * and recreates a directory, adds hard links to a lower file, a setuid file
 * and absolute symlinks (v2, again by umoci), and a third layer written by GNU
 * tar with an opaque directory whose marker stands after one of the layer's
 * own entries, and plain whiteouts (v3, added with `umoci raw add-layer`).
 * `other` shares the base layer with v2 but differs above it.
 */
import { chmod, chown, copyFile, link, mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { run } from './tools.js'

export interface TestImage {
  layout: string
  /** Tags in the layout. */
  tags: { base: string; v2: string; v3: string; other: string }
}

async function umoci(...args: string[]): Promise<void> {
  await run('umoci', args)
}

async function busyboxPath(): Promise<string> {
  const { stdout } = await run('sh', ['-c', 'command -v busybox'])
  return stdout.trim()
}

async function edit(dir: string, layout: string, from: string, to: string, change: (rootfs: string) => Promise<void>): Promise<void> {
  const bundle = join(dir, `bundle-${to}`)
  await umoci('unpack', '--image', `${layout}:${from}`, bundle)
  await change(join(bundle, 'rootfs'))
  await umoci('repack', '--image', `${layout}:${to}`, bundle)
  await rm(bundle, { recursive: true })
}

async function file(path: string, content: string, mode: number, uid = 0, gid = 0): Promise<void> {
  await writeFile(path, content)
  await chown(path, uid, gid)
  await chmod(path, mode)
}

async function base(rootfs: string, busybox: string): Promise<void> {
  for (const d of ['bin', 'usr/bin', 'etc/opt/a', 'var/lib/data', 'home/user', 'dev', 'run'])
    await mkdir(join(rootfs, d), { recursive: true })
  await copyFile(busybox, join(rootfs, 'bin/busybox'))
  await chmod(join(rootfs, 'bin/busybox'), 0o755)
  for (const applet of ['sh', 'cat', 'echo']) await link(join(rootfs, 'bin/busybox'), join(rootfs, 'bin', applet))
  await symlink('/bin/busybox', join(rootfs, 'usr/bin/ls'))
  await symlink('../../bin/busybox', join(rootfs, 'usr/bin/env'))
  await file(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n', 0o644)
  await file(join(rootfs, 'etc/group'), 'root:x:0:\nstaff:x:42:\n', 0o640, 0, 42)
  await file(join(rootfs, 'etc/hostname'), 'strata\n', 0o644)
  await file(join(rootfs, 'etc/opt/a/x'), 'x\n', 0o600)
  await file(join(rootfs, 'etc/opt/keep-not'), 'hidden by the opaque marker\n', 0o644)
  await file(join(rootfs, 'var/lib/data/1'), 'one\n', 0o644)
  await file(join(rootfs, 'var/lib/data/2'), 'two\n', 0o644)
  await chown(join(rootfs, 'home/user'), 1000, 1000)
  await chmod(join(rootfs, 'home/user'), 0o750)
  await mkdir(join(rootfs, 'tmp'))
  await chmod(join(rootfs, 'tmp'), 0o1777)
  await run('mknod', ['-m', '666', join(rootfs, 'dev/null'), 'c', '1', '3'])
  await run('mknod', ['-m', '620', join(rootfs, 'run/fifo'), 'p'])
}

async function second(rootfs: string): Promise<void> {
  await rm(join(rootfs, 'etc/hostname'))
  await rm(join(rootfs, 'var/lib/data'), { recursive: true })
  await mkdir(join(rootfs, 'var/lib/data'))
  await chmod(join(rootfs, 'var/lib/data'), 0o700)
  await file(join(rootfs, 'var/lib/data/3'), 'three\n', 0o644)
  await link(join(rootfs, 'bin/busybox'), join(rootfs, 'bin/ls'))
  await file(join(rootfs, 'usr/bin/su'), '#!/bin/sh\necho pretend\n', 0o4755)
  await file(join(rootfs, 'usr/bin/newgrp'), '#!/bin/sh\n', 0o2755, 0, 42)
  await symlink('/etc/passwd', join(rootfs, 'usr/bin/passwd-link'))
  await symlink('/nowhere/at/all', join(rootfs, 'usr/bin/dangling'))
  await chmod(join(rootfs, 'etc/passwd'), 0o600)
}

/** The third layer, by GNU tar: an opaque etc/opt whose marker comes after etc/opt/-early. */
async function thirdTar(dir: string): Promise<string> {
  const stage = join(dir, 'stage3')
  await mkdir(join(stage, 'etc/opt/a'), { recursive: true })
  await mkdir(join(stage, 'usr/bin'), { recursive: true })
  await file(join(stage, 'etc/opt/-early'), 'written before the marker\n', 0o644)
  await file(join(stage, 'etc/opt/.wh..wh..opq'), '', 0o644)
  await file(join(stage, 'etc/opt/a/z'), 'z\n', 0o644)
  await file(join(stage, 'usr/bin/.wh.env'), '', 0o644)
  await file(join(stage, 'etc/.wh.group'), '', 0o644)
  const tar = join(dir, 'layer3.tar')
  await run('tar', ['--sort=name', '--numeric-owner', '--owner=0', '--group=0', '-C', stage, '-cf', tar, 'etc', 'usr'])
  return tar
}

export async function buildTestImage(dir: string): Promise<TestImage> {
  const layout = join(dir, 'oci')
  const busybox = await busyboxPath()
  await umoci('init', '--layout', layout)
  await umoci('new', '--image', `${layout}:base`)
  await edit(dir, layout, 'base', 'base', (rootfs) => base(rootfs, busybox))
  await edit(dir, layout, 'base', 'v2', second)
  await umoci('raw', 'add-layer', '--image', `${layout}:v2`, '--tag', 'v3', await thirdTar(dir))
  await edit(dir, layout, 'base', 'other', async (rootfs) => {
    await file(join(rootfs, 'etc/motd'), 'another image on the same base\n', 0o644)
  })
  return { layout, tags: { base: 'base', v2: 'v2', v3: 'v3', other: 'other' } }
}

/** `umoci unpack` of a tag: the reference tree. */
export async function umociUnpack(layout: string, tag: string, bundle: string): Promise<string> {
  await umoci('unpack', '--image', `${layout}:${tag}`, bundle)
  return join(bundle, 'rootfs')
}
