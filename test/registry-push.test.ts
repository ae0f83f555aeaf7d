/**
 * `pushImage` to a private Debian docker-registry: a pulled image goes back
 * by mount or HEAD with every digest unchanged; an image with a layer made
 * in the store (commitLayer, as commit-container makes it) is read back by
 * `skopeo copy` + `umoci unpack` as the snapshot's tree, and a second push
 * sends no layer bytes (counted by a proxy in front of the registry); a
 * chunked upload whose connection drops resumes from the registry's Range.
 */
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertSameTree } from '../conformance/compare.js'
import { configWithLayer } from '../runtime/commit.js'
import { DirFs } from '../fs/dirfs.js'
import { commitLayer, imagesOf, sha256Digest, type Snapshotter } from '../index.js'
import { pullImage } from '../registry/pull.js'
import { pushImage } from '../registry/push.js'
import { nth, startFaultProxy, times, type FaultProxy } from './helpers/faultproxy.js'
import { skopeoPush, startRegistry, type TestRegistry } from './helpers/registry.js'
import { drivers, missingTools, run, tempDir, withTempStore } from './helpers/tools.js'
import { buildTestImage, type TestImage } from './helpers/umoci.js'

let work: string
let image: TestImage
let registry: TestRegistry | undefined
let proxy: FaultProxy | undefined
let skip: string | undefined
const fast = { plainHttp: true, backoffMs: 5 }

beforeAll(async () => {
  skip = await missingTools('umoci', 'busybox', 'skopeo', 'docker-registry')
  if (skip) return
  work = await tempDir('push')
  image = await buildTestImage(work)
  registry = await startRegistry()
  proxy = await startFaultProxy(registry.host)
  await skopeoPush(image.layout, 'v3', `${registry.host}/test/layers:v3`)
}, 120_000)

afterAll(async () => {
  await proxy?.stop()
  await registry?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

/** A layer made in the store on the image's top layer, recorded as image `tag` (what commit-container does). */
async function commitOnTop(sn: Snapshotter, from: string, tag: string): Promise<string> {
  const base = (await imagesOf(sn).get(from))!
  await sn.prepare('ctr', base.chainId)
  const fs = await sn.open('ctr')
  await fs.rm('/var/lib/data', { recursive: true })
  await fs.writeFile('/etc/passwd', 'root:x:0:0::/root:/bin/sh\n')
  await fs.link('/bin/busybox', '/bin/true')
  await fs.mkdir('/srv/new/deep', { recursive: true, mode: 0o750 })
  await fs.writeFile('/srv/new/deep/big', randomBytes(300_000))
  await fs.close()
  const layer = await commitLayer(sn, 'ctr', base.chainId === undefined ? {} : { parent: base.chainId })
  const config = configWithLayer(base.config, base.diffIds, layer.diffId, 'test')
  await imagesOf(sn).put({
    name: tag,
    configDigest: sha256Digest(JSON.stringify(config)),
    config,
    diffIds: [...base.diffIds, layer.diffId],
    chainId: layer.chainId,
    created: Date.now(),
    ...(base.blobs ? { blobs: base.blobs } : {}),
  })
  return layer.chainId
}

describe.each(drivers())('strata push with the %s driver', (driver) => {
  it('a pulled image pushes to another repository by mount, with the same manifest digest', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(driver, async (sn) => {
      const pulled = await pullImage(sn, `${registry!.host}/test/layers:v3`, fast)
      const res = await pushImage(sn, pulled.name, `${registry!.host}/copies/${driver}:v3`, fast)
      expect(res.layers.map((l) => l.how)).toEqual(['mounted', 'mounted', 'mounted'])
      expect(res.digest).toBe(pulled.manifestDigest)
      expect(res.unchanged).toBe(true)
      expect(res.uploadedBytes).toBe(0)
      const again = await pushImage(sn, pulled.name, `${registry!.host}/copies/${driver}:v3`, fast)
      expect(again.layers.map((l) => l.how)).toEqual(['present', 'present', 'present'])
    })
  })

  it('a committed layer pushes as gzip, unpacks by skopeo + umoci to its tree, and a second push sends no layer bytes', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(driver, async (sn) => {
      const pulled = await pullImage(sn, `${proxy!.host}/test/layers:v3`, fast)
      const top = await commitOnTop(sn, pulled.name, 'mine')
      const dest = `${proxy!.host}/made/${driver}:mine`
      const before = proxy!.uploadedBytes
      const res = await pushImage(sn, 'mine', dest, { ...fast, chunkBytes: 64 * 1024 })
      expect(res.layers.map((l) => l.how)).toEqual(['mounted', 'mounted', 'mounted', 'uploaded'])
      expect(res.uploadedBytes).toBeGreaterThan(0)
      expect(proxy!.uploadedBytes - before).toBeGreaterThanOrEqual(res.uploadedBytes)
      const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', `docker://${dest}`])
      expect(JSON.parse(stdout).Layers).toHaveLength(4)
      const layout = join(work, `out-${driver}`)
      await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${dest}`, `oci:${layout}:mine`])
      await run('umoci', ['unpack', '--image', `${layout}:mine`, join(work, `bundle-${driver}`)])
      const fs = await sn.open(top)
      try {
        await assertSameTree(new DirFs(join(work, `bundle-${driver}`, 'rootfs'), { readOnly: true }), fs, 'pushed image')
      } finally {
        await fs.close()
      }
      const rec = await imagesOf(sn).get('mine')
      expect(rec?.blobs?.[rec.diffIds[3]]?.diffId, 'exportDiff gave the layer a new DiffID').toBeUndefined()
      const counted = proxy!.uploadedBytes
      const again = await pushImage(sn, 'mine', dest, fast)
      expect(again.layers.map((l) => l.how)).toEqual(['present', 'present', 'present', 'present'])
      expect(again.uploadedBytes).toBe(0)
      expect(again.digest).toBe(res.digest)
      expect(proxy!.uploadedBytes).toBe(counted)
    })
  })
})

describe('pushing to another registry', () => {
  it('a pulled image is copied blob by blob from the registry it came from, keeping the manifest digest', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(drivers()[0], async (sn) => {
      const pulled = await pullImage(sn, `${registry!.host}/test/layers:v3`, fast)
      const res = await pushImage(sn, pulled.name, `${proxy!.host}/elsewhere/layers:v3`, fast)
      expect(res.layers.map((l) => l.how)).toEqual(['copied', 'copied', 'copied'])
      expect(res.digest).toBe(pulled.manifestDigest)
      expect(res.unchanged).toBe(true)
    })
  })

  it('when no registry that held a blob answers, the layer is exported again', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(drivers()[0], async (sn) => {
      const pulled = await pullImage(sn, `${registry!.host}/test/layers:v3`, fast)
      const rec = (await imagesOf(sn).get(pulled.name))!
      for (const b of Object.values(rec.blobs ?? {})) b.sources = ['127.0.0.1:9/gone']
      await imagesOf(sn).put({ ...rec, name: 'orphan' })
      const res = await pushImage(sn, 'orphan', `${proxy!.host}/orphan/layers:v3`, { ...fast, retries: 0 })
      expect(res.layers.map((l) => l.how)).toEqual(['uploaded', 'uploaded', 'uploaded'])
      expect(res.unchanged).toBe(false)
      await run('skopeo', ['inspect', '--tls-verify=false', `docker://${proxy!.host}/orphan/layers:v3`])
      // exportDiff writes other tar bytes than umoci did: new DiffIDs in a new config, the same tree.
      await withTempStore(drivers()[0], async (other) => {
        const back = await pullImage(other, `${proxy!.host}/orphan/layers:v3`, fast)
        expect(back.chainIds).not.toEqual(pulled.chainIds)
        const a = await sn.open(pulled.chainIds[2])
        const b = await other.open(back.chainIds[2])
        try {
          await assertSameTree(b, a, 're-exported image')
        } finally {
          await a.close()
          await b.close()
        }
      })
    })
  })
})

describe('uploads through faults', () => {
  async function pushThrough(rules: FaultProxy['rules'], repo: string): Promise<string[]> {
    return withTempStore(drivers()[0], async (sn) => {
      const pulled = await pullImage(sn, `${proxy!.host}/test/layers:v3`, fast)
      await commitOnTop(sn, pulled.name, 'mine')
      proxy!.log.length = 0
      proxy!.rules = rules
      const dest = `${proxy!.host}/${repo}:mine`
      try {
        const res = await pushImage(sn, 'mine', dest, { ...fast, chunkBytes: 64 * 1024 })
        expect(res.layers.at(-1)?.how).toBe('uploaded')
      } finally {
        proxy!.rules = []
      }
      const layout = join(work, `resumed-${repo.replace('/', '-')}`)
      await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${dest}`, `oci:${layout}:mine`])
      return [...proxy!.log]
    })
  }

  it('a PATCH answered 500 is sent again from the Range the upload URL reports', async (ctx) => {
    if (skip) ctx.skip(skip)
    const log = await pushThrough([nth(3, (req) => req.method === 'PATCH', { status: 500 })], 'resume/range')
    const sessions = log.filter((l) => l.startsWith('POST /v2/resume/range/blobs/uploads/') && !l.includes('mount='))
    expect(sessions).toHaveLength(2) // the layer's and the config's: no restart
    expect(log.filter((l) => l.startsWith('GET /v2/resume/range/blobs/uploads/'))).toHaveLength(1)
  })

  it('a PATCH cut off mid-body starts the blob over on a new session (Distribution 2.8 cannot resume it)', async (ctx) => {
    if (skip) ctx.skip(skip)
    const log = await pushThrough([times(1, (req) => req.method === 'PATCH', { dropRequestAfter: 10_000 })], 'resume/restart')
    const sessions = log.filter((l) => l.startsWith('POST /v2/resume/restart/blobs/uploads/') && !l.includes('mount='))
    expect(sessions).toHaveLength(3) // the layer's twice, the config's once
  })
})
