/**
 * A container runtime in a hundred lines, on strata's library API: import an
 * image, add an init layer, prepare the container's writable layer, mount it,
 * write an OCI bundle, run it with runc, then commit the container as a new
 * layer. (`strata run` does the same with more care: see runtime/.)
 *
 *   npm run build
 *   sudo node dist/examples/runtime.js STORE IMAGE-PATH CMD [ARG]...
 *   sudo node dist/examples/runtime.js /tmp/store ./busybox-oci sh -c 'echo hi > /greeting'
 */
import { spawn } from 'node:child_process'
import { mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { commitLayer, importImage, mountAll, openSnapshotter, unmount } from '../index.js'
import { makeInitLayer } from '../runtime/index.js'

const [storeRoot, imagePath, ...cmd] = process.argv.slice(2)
if (!storeRoot || !imagePath || cmd.length === 0) {
  console.error('usage: runtime.js STORE IMAGE-PATH CMD [ARG]...')
  process.exit(2)
}

function ociConfig(args: string[], hostname: string): object {
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args,
      cwd: '/',
      env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: false },
    hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'mode=755'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    ],
    linux: { namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map((type) => ({ type })) },
  }
}

function runc(bundle: string, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('runc', ['run', '--bundle', bundle, id], { stdio: 'inherit' })
    child.once('error', reject)
    child.once('exit', (code) => resolve(code ?? 1))
  })
}

// overlay's mounts need the kernel's overlayfs; native's are bind mounts that work anywhere.
const sn = await openSnapshotter('overlay', storeRoot).catch(() => openSnapshotter('native', storeRoot))
try {
  // 1. Every layer becomes a committed snapshot named by its ChainID; the top one is the image.
  const image = await importImage(sn, imagePath)
  const top = image.chainIds.at(-1)
  const name = `example-${process.pid}`

  // 2. The init layer, 3. the container's thin writable layer on it.
  // The runtime's own files (hosts, hostname, resolv.conf) go into a layer of their own,
  // so a commit of the container leaves them out.
  await makeInitLayer(sn, `${name}-init`, top, { hostname: name })
  const mounts = await sn.prepare(name, `${name}-init`)

  // 4. Mount it as the bundle's rootfs, write config.json, run; always unmount.
  const bundle = await mkdtemp(join(tmpdir(), 'strata-example-'))
  let code: number
  await mountAll(mounts, join(bundle, 'rootfs'))
  try {
    await writeFile(join(bundle, 'config.json'), JSON.stringify(ociConfig(cmd, name)))
    code = await runc(bundle, name)
  } finally {
    await unmount(join(bundle, 'rootfs'))
    await rmdir(join(bundle, 'rootfs'))
    await rm(bundle, { recursive: true })
  }
  console.error(`${cmd.join(' ')} exited with ${code}`)
  process.exitCode = code

  // 5. The container's changes (against its init layer) become a layer on the image.
  const layer = await commitLayer(sn, name, top === undefined ? {} : { parent: top })
  console.error(`committed the container as layer ${layer.diffId} (ChainID ${layer.chainId}, ${layer.size} bytes of tar)`)
  await sn.remove(name)
  await sn.remove(`${name}-init`)
} finally {
  await sn.close()
}
