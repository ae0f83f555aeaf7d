/**
 * Layer speed, measured against GNU tar in the same run:
 *
 * - import of a busybox image (busybox-static with its applets as hard links,
 *   plus a second layer that deletes and adds) per registered driver, vs
 *   `tar -xzf` of the same two layer blobs into an empty directory;
 * - apply of one plain layer of thousands of small files into an active
 *   snapshot (per driver), vs `tar -xf` of the same tar.
 *
 * Run after `npm run build`:  node dist/bench/layer-apply.js [--runs N] [--files N]
 * The functions are exported so the benchmark suite can fold them in.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, link, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { applyLayer, importImage, openSnapshotter, registeredDrivers, sha256Digest } from '../index.js'

const run = promisify(execFile)

export interface Timing {
  what: string
  driver: string
  /** Median of the runs, in milliseconds. */
  ms: number
  /** ms divided by GNU tar's ms for the same input. */
  vsTar: number
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t0) / 1e6
}

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
  const config = await put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } })))
  const manifest = await put(Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers,
  })))
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await writeFile(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': ref } }],
  }))
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

/** A plain layer of `files` small files (1–16 KiB of random bytes) in directories of 100. */
export async function makeManyFilesTar(dir: string, files: number): Promise<string> {
  const src = join(dir, 'many')
  for (let i = 0; i < files; i++) {
    const d = join(src, `d${Math.floor(i / 100)}`)
    if (i % 100 === 0) await mkdir(d, { recursive: true })
    await writeFile(join(d, `f${i}`), randomBytes(1024 + ((i * 7919) % 15361)))
  }
  const tar = join(dir, 'many.tar')
  await run('tar', ['--sort=name', '--numeric-owner', '-C', src, '-cf', tar, '.'])
  await rm(src, { recursive: true })
  return tar
}

async function tarExtract(args: string[], scratch: string): Promise<number> {
  const out = await mkdtemp(join(scratch, 'tar-'))
  const ms = await timed(async () => {
    for (const a of args) await run('tar', ['--numeric-owner', '-p', '-C', out, ...a.split(' ')])
  })
  await rm(out, { recursive: true })
  return ms
}

export async function benchImageImport(scratch: string, runs = 5): Promise<Timing[]> {
  const { layout, blobs } = await makeBusyboxImage(await mkdtemp(join(scratch, 'img-')))
  const tarMs: number[] = []
  const perDriver = new Map<string, number[]>()
  for (let r = 0; r < runs; r++) {
    tarMs.push(await tarExtract(blobs.map((b) => `-xzf ${b}`), scratch))
    for (const driver of registeredDrivers()) {
      const root = await mkdtemp(join(scratch, `store-${driver}-`))
      const sn = await openSnapshotter(driver, root)
      const ms = await timed(async () => {
        await importImage(sn, layout)
      })
      await sn.close()
      await rm(root, { recursive: true })
      perDriver.set(driver, [...(perDriver.get(driver) ?? []), ms])
    }
  }
  const tar = median(tarMs)
  return [
    { what: 'busybox image import (2 gzip layers)', driver: 'GNU tar -xzf', ms: tar, vsTar: 1 },
    ...[...perDriver].map(([driver, xs]) => ({ what: 'busybox image import (2 gzip layers)', driver, ms: median(xs), vsTar: median(xs) / tar })),
  ]
}

export async function benchLayerApply(scratch: string, files = 5000, runs = 3): Promise<Timing[]> {
  const tar = await makeManyFilesTar(await mkdtemp(join(scratch, 'many-')), files)
  const what = `apply of ${files} files (${((await stat(tar)).size / 2 ** 20).toFixed(0)} MiB tar)`
  const tarMs: number[] = []
  const perDriver = new Map<string, number[]>()
  for (let r = 0; r < runs; r++) {
    tarMs.push(await tarExtract([`-xf ${tar}`], scratch))
    for (const driver of registeredDrivers()) {
      const root = await mkdtemp(join(scratch, `store-${driver}-`))
      const sn = await openSnapshotter(driver, root)
      await sn.prepare('x')
      const fs = await sn.open('x')
      const ms = await timed(async () => {
        await applyLayer(fs, createReadStream(tar))
      })
      await fs.close()
      await sn.close()
      await rm(root, { recursive: true })
      perDriver.set(driver, [...(perDriver.get(driver) ?? []), ms])
    }
  }
  const t = median(tarMs)
  return [
    { what, driver: 'GNU tar -xf', ms: t, vsTar: 1 },
    ...[...perDriver].map(([driver, xs]) => ({ what, driver, ms: median(xs), vsTar: median(xs) / t })),
  ]
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name)
  return i >= 0 ? Number(process.argv[i + 1]) : fallback
}

async function main(): Promise<void> {
  const scratch = await mkdtemp(join(tmpdir(), 'strata-bench-layers-'))
  try {
    const rows = [
      ...(await benchImageImport(scratch, arg('--runs', 5))),
      ...(await benchLayerApply(scratch, arg('--files', 5000), Math.max(1, Math.min(3, arg('--runs', 3))))),
    ]
    console.log('| what | driver | median ms | × GNU tar |')
    console.log('| --- | --- | ---: | ---: |')
    for (const r of rows) console.log(`| ${r.what} | ${r.driver} | ${r.ms.toFixed(1)} | ${r.vsTar.toFixed(2)} |`)
  } finally {
    await rm(scratch, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
