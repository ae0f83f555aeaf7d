/**
 * Images and layers the layer scenario measures: a busybox image as an OCI
 * layout (busybox-static with its applets as hard links, plus a second layer
 * that deletes and adds), and plain layers of many small files.
 */
import { execFile } from 'node:child_process'
import { chmod, link, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { sha256Digest } from '../layers/digest.js'
import { bytes } from './fixtures.js'

const run = promisify(execFile)

/** Writes `tars` (plain tar files) as gzip'd layers of an OCI image layout at `dir`. */
export async function writeOciLayout(dir: string, tars: string[], ref = 'latest'): Promise<string[]> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true })
  const put = async (bytes: Buffer): Promise<{ digest: string; size: number }> => {
    const digest = sha256Digest(bytes)
    await writeFile(join(dir, 'blobs', 'sha256', digest.slice(7)), bytes)
    return { digest, size: bytes.length }
  }
  const layers = []
  const diffIds = []
  const blobs = []
  for (const tar of tars) {
    diffIds.push(sha256Digest(await readFile(tar)))
    await run('gzip', ['-n', '-k', '-f', tar])
    blobs.push(`${tar}.gz`)
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await put(await readFile(`${tar}.gz`))) })
  }
  const config = await put(
    Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } })),
  )
  const manifest = await put(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers,
      }),
    ),
  )
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': ref } },
      ],
    }),
  )
  return blobs
}

/** A busybox image: layer 1 is busybox-static with every applet hard-linked, layer 2 deletes and adds. */
export async function makeBusyboxImage(dir: string): Promise<{ layout: string; blobs: string[] }> {
  const { stdout } = await run('sh', ['-c', 'command -v busybox'])
  const l1 = join(dir, 'l1')
  await mkdir(join(l1, 'bin'), { recursive: true })
  await mkdir(join(l1, 'etc'))
  await run('cp', [stdout.trim(), join(l1, 'bin/busybox')])
  const applets = (await run(join(l1, 'bin/busybox'), ['--list'])).stdout.split('\n').filter((a) => a && a !== 'busybox')
  for (const a of applets) await link(join(l1, 'bin/busybox'), join(l1, 'bin', a))
  await writeFile(join(l1, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n')
  await mkdir(join(l1, 'tmp'))
  await chmod(join(l1, 'tmp'), 0o1777)
  const l2 = join(dir, 'l2')
  await mkdir(join(l2, 'etc'), { recursive: true })
  await mkdir(join(l2, 'bin'))
  await writeFile(join(l2, 'bin/.wh.vi'), '')
  await writeFile(join(l2, 'etc/hostname'), 'bench\n')
  const tars = []
  for (const [i, d] of [l1, l2].entries()) {
    const tar = join(dir, `layer${i + 1}.tar`)
    await run('tar', ['--sort=name', '--numeric-owner', '-C', d, '-cf', tar, '.'])
    tars.push(tar)
  }
  const layout = join(dir, 'oci')
  return { layout, blobs: await writeOciLayout(layout, tars) }
}

/** A plain layer of `files` small files in directories of 100 (deterministic bytes, `size(i)` each). */
export async function makeManyFilesTar(dir: string, files: number, size = (i: number) => 1024 + ((i * 7919) % 15361)): Promise<string> {
  const src = join(dir, 'many')
  for (let i = 0; i < files; i++) {
    const d = join(src, `d${Math.floor(i / 100)}`)
    if (i % 100 === 0) await mkdir(d, { recursive: true })
    await writeFile(join(d, `f${i}`), bytes(`f${i}`, size(i)))
  }
  const tar = join(dir, 'many.tar')
  await run('tar', ['--sort=name', '--numeric-owner', '-C', src, '-cf', tar, '.'])
  await rm(src, { recursive: true })
  return tar
}
