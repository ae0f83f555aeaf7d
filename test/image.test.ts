/**
 * Real images, real tools: an image built by umoci from busybox-static (see
 * helpers/umoci.ts) is imported with every registered driver and compared,
 * file by file, with `umoci unpack` of the same image; a container's changes
 * go out through exportDiff, back in through `umoci raw add-layer`, and must
 * unpack to the container's tree; shared layers are stored once.
 */
import { readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertSameTree } from '../conformance/compare.js'
import { DirFs } from '../fs/dirfs.js'
import { exportDiff, imagesOf, importImage, isLayerError, type ImportProgress, type Snapshotter } from '../index.js'
import { buildTestImage, umociUnpack, type TestImage } from './helpers/umoci.js'
import { drivers, missingTools, run, tempDir, withTempStore } from './helpers/tools.js'

let work: string
let image: TestImage
let skip: string | undefined
const refs = new Map<string, string>()

beforeAll(async () => {
  skip = await missingTools('umoci', 'busybox', 'skopeo')
  if (skip) return
  work = await tempDir('image')
  image = await buildTestImage(work)
  for (const tag of ['base', 'v2', 'v3', 'other']) refs.set(tag, await umociUnpack(image.layout, tag, join(work, `ref-${tag}`)))
}, 120_000)

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true })
})

async function expectSameAsUmoci(sn: Snapshotter, key: string, rootfs: string, what: string): Promise<void> {
  const fs = await sn.open(key)
  try {
    await assertSameTree(fs, new DirFs(rootfs, { readOnly: true }), what)
  } finally {
    await fs.close()
  }
}

describe.each(drivers())('images with the %s driver', (driver) => {
  it('importImage of the umoci-built image equals umoci unpack at every layer', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(driver, async (sn) => {
      const events: ImportProgress[] = []
      const res = await importImage(sn, image.layout, { ref: 'v3', onProgress: (p) => events.push(p) })
      expect(res.chainIds).toHaveLength(3)
      expect(res.reused).toBe(0)
      await expectSameAsUmoci(sn, res.chainIds[0], refs.get('base')!, 'layer 1 (base)')
      await expectSameAsUmoci(sn, res.chainIds[1], refs.get('v2')!, 'layers 1-2 (v2)')
      await expectSameAsUmoci(sn, res.chainIds[2], refs.get('v3')!, 'layers 1-3 (v3)')
      for (const id of res.chainIds) expect((await sn.stat(id)).kind).toBe('committed')
      expect(events.filter((e) => e.phase === 'done').map((e) => e.layer)).toEqual([0, 1, 2])
      const rec = await imagesOf(sn).get('v3')
      expect(rec?.chainId).toBe(res.chainIds[2])
      expect(rec?.config).toEqual(res.config)
    })
  })

  it('exportDiff of a container, added by umoci raw add-layer, unpacks to the container', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(driver, async (sn) => {
      const { chainIds } = await importImage(sn, image.layout, { ref: 'v3' })
      await sn.prepare('ctr', chainIds.at(-1)!)
      const fs = await sn.open('ctr')
      await fs.rm('/var/lib/data', { recursive: true })
      await fs.writeFile('/etc/passwd', 'root:x:0:0::/root:/bin/sh\n')
      await fs.link('/bin/busybox', '/bin/true')
      await fs.writeFile('/usr/bin/setuid-tool', 'tool\n', { mode: 0o4711 })
      await fs.chmod('/usr/bin/setuid-tool', 0o4711)
      await fs.symlink('/etc/opt/a/z', '/etc/z-link')
      await fs.mkdir('/srv/new/deep', { recursive: true, mode: 0o750 })
      await fs.chown('/srv/new', 1000, 1000)
      await fs.rm('/usr/bin/passwd-link')
      await fs.close()
      const tar = join(work, `ctr-${driver}.tar`)
      const chunks: Buffer[] = []
      for await (const c of exportDiff(sn, 'ctr')) chunks.push(c as Buffer)
      await writeFile(tar, Buffer.concat(chunks))
      const layout = join(work, `oci-${driver}`)
      await run('cp', ['-a', image.layout, layout])
      await run('umoci', ['raw', 'add-layer', '--image', `${layout}:v3`, '--tag', 'ctr', tar])
      const rootfs = await umociUnpack(layout, 'ctr', join(work, `ref-ctr-${driver}`))
      await expectSameAsUmoci(sn, 'ctr', rootfs, 'container after exportDiff + umoci')
    })
  })

  it('two tags sharing the base layer store it once (ChainID dedup)', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(driver, async (sn) => {
      const a = await importImage(sn, image.layout, { ref: 'v3', tag: 'busybox:a' })
      const b = await importImage(sn, image.layout, { ref: 'other', tag: 'busybox:b' })
      expect(b.chainIds[0]).toBe(a.chainIds[0])
      expect(b.reused).toBe(1)
      const again = await importImage(sn, image.layout, { ref: 'v3', tag: 'busybox:a2' })
      expect(again.reused).toBe(3)
      const names: string[] = []
      for await (const info of sn.walk()) names.push(info.name)
      expect(names.sort()).toEqual([...new Set([...a.chainIds, ...b.chainIds])].sort())
      expect(names).toHaveLength(4)
      expect((await imagesOf(sn).list()).map((r) => r.name).sort()).toEqual(['busybox:a', 'busybox:a2', 'busybox:b'])
      await expectSameAsUmoci(sn, b.chainIds[1], refs.get('other')!, 'other')
    })
  })

  it('a docker-archive written by skopeo imports to the same tree', async (ctx) => {
    if (skip) ctx.skip(skip)
    const archive = join(work, `docker-${driver}.tar`)
    await run('skopeo', ['copy', '--quiet', `oci:${image.layout}:v3`, `docker-archive:${archive}:busybox:v3`])
    await withTempStore(driver, async (sn) => {
      const res = await importImage(sn, archive)
      expect(res.name).toBe('docker.io/library/busybox:v3')
      await expectSameAsUmoci(sn, res.chainIds[2], refs.get('v3')!, 'docker-archive v3')
    })
  })

  it('a tampered layer blob fails with ERR_INVALID_ARGUMENT and leaves no snapshot behind', async (ctx) => {
    if (skip) ctx.skip(skip)
    const layout = join(work, `tampered-${driver}`)
    await run('cp', ['-a', image.layout, layout])
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8'))
    const v2 = index.manifests.find(
      (m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'] === 'v2',
    )
    const manifest = JSON.parse(await readFile(join(layout, 'blobs', ...v2.digest.split(':')), 'utf8'))
    const blob = join(layout, 'blobs', ...manifest.layers[1].digest.split(':'))
    const bad = await readFile(blob)
    bad[bad.length - 20] ^= 0xff
    await writeFile(blob, bad)
    await withTempStore(driver, async (sn) => {
      const err = await importImage(sn, layout, { ref: 'v2' }).catch((e: unknown) => e)
      expect(isLayerError(err), String(err)).toBe(true)
      expect((err as { code: string }).code).toBe('ERR_INVALID_ARGUMENT')
      const left: string[] = []
      for await (const info of sn.walk()) left.push(`${info.kind}:${info.name}`)
      expect(left).toHaveLength(1)
      expect(left[0]).toMatch(/^committed:sha256:/)
      expect(await imagesOf(sn).list()).toEqual([])
    })
  })
})
