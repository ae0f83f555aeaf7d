/**
 * A runnable busybox image for the runtime tests: busybox-static's binary
 * and a few applet symlinks in one layer, packed by `umoci repack` into an
 * OCI layout with Cmd ["sh"], tagged `latest`. The runtime and image tests use
 * it, and the crash disk imports it (so it lives where the build compiles it).
 */
import { copyFile, mkdir, rm, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { run } from './disk.js'

const APPLETS = ['sh', 'echo', 'cat', 'ls', 'touch', 'mkdir', 'rm', 'test', 'true', 'hostname', 'id', 'sleep']

export async function buildBusyboxImage(dir: string): Promise<string> {
  const layout = join(dir, 'busybox-oci')
  const bundle = join(dir, 'busybox-bundle')
  const { stdout } = await run('sh', ['-c', 'command -v busybox'])
  await run('umoci', ['init', '--layout', layout])
  await run('umoci', ['new', '--image', `${layout}:latest`])
  await run('umoci', ['unpack', '--image', `${layout}:latest`, bundle])
  const rootfs = join(bundle, 'rootfs')
  await mkdir(join(rootfs, 'bin'), { recursive: true })
  await mkdir(join(rootfs, 'etc'), { recursive: true })
  await copyFile(stdout.trim(), join(rootfs, 'bin/busybox'))
  for (const applet of APPLETS) await symlink('busybox', join(rootfs, 'bin', applet))
  await writeFile(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n')
  await run('umoci', ['repack', '--image', `${layout}:latest`, bundle])
  await run('umoci', ['config', '--image', `${layout}:latest`, '--config.cmd', 'sh', '--config.workingdir', '/'])
  await rm(bundle, { recursive: true })
  return layout
}
