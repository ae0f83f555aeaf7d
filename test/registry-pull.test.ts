/**
 * `pullImage` against a private Debian docker-registry that `skopeo copy`
 * filled: the three-layer umoci image (whiteouts, an opaque directory, hard
 * links) and the runnable busybox equal `importImage` of the same layouts,
 * file by file, with every driver; faults from a proxy in front of the
 * registry are retried or fail typed, leaving the store as it was.
 */
import { readdir, rm } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { assertSameTree } from '../conformance/compare.js'
import { imagesOf, importImage, isLayerError, isSnapshotterError, type Snapshotter } from '../index.js'
import { RegistryClient } from '../registry/client.js'
import { isRegistryError } from '../registry/errors.js'
import { DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../registry/manifest.js'
import { hostPlatform } from '../image/source.js'
import { pushScope, uploadBuffer } from '../registry/upload.js'
import { sha256Digest } from '../layers/digest.js'
import { pullImage, type PullProgress } from '../registry/pull.js'
import { buildBusyboxImage } from './helpers/busybox.js'
import { isBlobGet, startFaultProxy, times, type FaultProxy } from './helpers/faultproxy.js'
import { skopeoPush, startRegistry, type TestRegistry } from './helpers/registry.js'
import { drivers, missingTools, run, tempDir, withTempStore } from './helpers/tools.js'
import { buildTestImage, type TestImage } from './helpers/umoci.js'

let work: string
let image: TestImage
let busybox: string
let registry: TestRegistry | undefined
let proxy: FaultProxy | undefined
let skip: string | undefined
/** The v3 image's manifest as the registry holds it. */
let v3: { digest: string; layers: Array<{ digest: string; size: number }> }

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
  for (const tag of ['v3', 'other']) {
    const dest = `docker://${registry.host}/test/docker:${tag}`
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--format', 'v2s2', `oci:${image.layout}:${tag}`, dest])
  }
  proxy = await startFaultProxy(registry.host)
  const res = await fetch(`http://${registry.host}/v2/test/layers/manifests/v3`, { headers: { accept: OCI_MANIFEST } })
  const bytes = Buffer.from(await res.arrayBuffer())
  v3 = { digest: sha256Digest(bytes), layers: JSON.parse(bytes.toString()).layers }
  await putIndex('test/layers', 'index', OCI_INDEX, OCI_MANIFEST, v3.digest)
  await putIndex(
    'test/docker',
    'list',
    DOCKER_LIST,
    DOCKER_MANIFEST,
    await manifestBytes('test/docker', 'v3', DOCKER_MANIFEST).then(sha256Digest),
  )
  await putArtifact('test/helm', 'application/vnd.cncf.helm.config.v1+json', 'application/vnd.cncf.helm.chart.content.v1.tar+gzip')
  await putArtifact('test/zstd', 'application/vnd.oci.image.config.v1+json', 'application/vnd.oci.image.layer.v1.tar+zstd')
}, 120_000)

async function manifestBytes(repository: string, reference: string, type: string): Promise<Buffer> {
  const res = await fetch(`http://${registry!.host}/v2/${repository}/manifests/${reference}`, { headers: { accept: type } })
  return Buffer.from(await res.arrayBuffer())
}

/** An index of `digest` for this machine's platform, after the `other` image posing as s390x, put as `tag`. */
async function putIndex(repository: string, tag: string, indexType: string, manifestType: string, digest: string): Promise<void> {
  const client = new RegistryClient(registry!.host, { plainHttp: true })
  const size = (await manifestBytes(repository, digest, manifestType)).length
  const decoy = await manifestBytes(repository, 'other', manifestType)
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: indexType,
    manifests: [
      { mediaType: manifestType, digest: sha256Digest(decoy), size: decoy.length, platform: { os: 'linux', architecture: 's390x' } },
      { mediaType: manifestType, digest, size, platform: hostPlatform() },
    ],
  })
  const res = await client.request({
    method: 'PUT',
    url: `/v2/${repository}/manifests/${tag}`,
    body: Buffer.from(index),
    headers: { 'content-type': indexType },
    scope: pushScope(repository),
    where: { ref: repository, step: 'tag' },
  })
  expect(res.status, await res.text()).toBe(201)
}

/** A manifest of one config and one layer of the given media types, put with the client's own primitives. */
async function putArtifact(repository: string, configType: string, layerType: string): Promise<void> {
  const client = new RegistryClient(registry!.host, { plainHttp: true })
  const t = { client, repository, ref: repository }
  const config = Buffer.from(JSON.stringify({ rootfs: { type: 'layers', diff_ids: [sha256Digest('x')] } }))
  const layer = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3])
  await uploadBuffer(t, config, sha256Digest(config))
  await uploadBuffer(t, layer, sha256Digest(layer))
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: configType, digest: sha256Digest(config), size: config.length },
    layers: [{ mediaType: layerType, digest: sha256Digest(layer), size: layer.length }],
  })
  const res = await client.request({
    method: 'PUT',
    url: `/v2/${repository}/manifests/latest`,
    body: Buffer.from(manifest),
    headers: { 'content-type': OCI_MANIFEST },
    scope: pushScope(repository),
    where: { ref: repository, step: 'tag' },
  })
  expect(res.status).toBe(201)
}

afterAll(async () => {
  await proxy?.stop()
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

  it('an OCI index, a Docker manifest list and a Docker schema 2 image pull to the same layers; busybox equals its import', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(driver, async (sn) => {
      const plain = await pullImage(sn, `${registry!.host}/test/layers:v3`, fast)
      for (const ref of ['test/layers:index', 'test/docker:list', 'test/docker:v3']) {
        const r = await pullImage(sn, `${registry!.host}/${ref}`, fast)
        expect(r.chainIds, ref).toEqual(plain.chainIds)
        expect(r.fetchedBytes, ref).toBe(0)
      }
      const bb = await pullImage(sn, `${registry!.host}/library/busybox`, fast)
      await withTempStore(driver, async (imported) => {
        const ref = await importImage(imported, busybox, { ref: 'latest' })
        expect(ref.chainIds).toEqual(bb.chainIds)
        await expectSameLayers(sn, imported, bb.chainIds)
      })
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

/** Runs a pull through the proxy with `rules` on a fresh store: the result or the error, the requests seen, what the store holds after. */
async function pullThrough(rules: FaultProxy['rules'], ref: string, opts: Parameters<typeof pullImage>[2] = {}) {
  return withTempStore(drivers()[0], async (sn) => {
    proxy!.rules = rules
    proxy!.log.length = 0
    try {
      const result = await pullImage(sn, `${proxy!.host}/${ref}`, { ...fast, ...opts }).catch((e: unknown) => e)
      const tmp = await readdir(join((sn as unknown as { root: string }).root, 'tmp')).catch(() => [])
      return { result, log: [...proxy!.log], left: await snapshotNames(sn), images: await imagesOf(sn).list(), tmp }
    } finally {
      proxy!.rules = []
    }
  })
}

const blobOf = (i: number) => (req: IncomingMessage) => isBlobGet(req) && (req.url ?? '').includes(v3.layers[i].digest)
const manifestGet = (req: IncomingMessage) => req.method === 'GET' && /\/manifests\//.test(req.url ?? '')

function expectPulled(r: Awaited<ReturnType<typeof pullThrough>>): void {
  expect(r.result, String(r.result)).toMatchObject({ chainIds: expect.any(Array) })
  expect(r.left).toHaveLength(3)
  expect(r.tmp).toEqual([])
}

function expectUntouched(r: Awaited<ReturnType<typeof pullThrough>>): void {
  expect(r.left).toEqual([])
  expect(r.images).toEqual([])
  expect(r.tmp).toEqual([])
}

describe('strata pull through faults', () => {
  it('a registry that answers 500 three times, then the manifest, is retried to success', async (ctx) => {
    if (skip) ctx.skip(skip)
    const r = await pullThrough([times(3, manifestGet, { status: 500 })], 'test/layers:v3')
    expectPulled(r)
    expect(r.log.filter((l) => l.includes('/manifests/v3'))).toHaveLength(4)
  })

  it('429 with Retry-After on a blob is waited out and retried', async (ctx) => {
    if (skip) ctx.skip(skip)
    const r = await pullThrough([times(2, blobOf(1), { status: 429, headers: { 'retry-after': '0' } })], 'test/layers:v3')
    expectPulled(r)
  })

  it('500 on every attempt fails with ERR_UNAVAILABLE naming the reference and the step, and leaves the store as it was', async (ctx) => {
    if (skip) ctx.skip(skip)
    const r = await pullThrough([times(100, blobOf(2), { status: 503 })], 'test/layers:v3', { retries: 2 })
    expect(isRegistryError(r.result, 'blob'), String(r.result)).toBe(true)
    expect((r.result as { code: string }).code).toBe('ERR_UNAVAILABLE')
    expect(String((r.result as Error).message)).toContain(`${proxy!.host}/test/layers:v3: blob:`)
    expectUntouched(r)
  })

  it('a connection dropped mid-blob resumes with a Range request', async (ctx) => {
    if (skip) ctx.skip(skip)
    const r = await pullThrough([times(1, blobOf(0), { dropAfter: 100_000 })], 'test/layers:v3')
    expectPulled(r)
    expect(
      r.log.some((l) => l.includes(v3.layers[0].digest) && / bytes=[1-9][0-9]*-$/.test(l)),
      r.log.join('\n'),
    ).toBe(true)
  })

  it('a blob response that stalls is given up after the idle timeout and resumed with Range', async (ctx) => {
    if (skip) ctx.skip(skip)
    const r = await pullThrough([times(1, blobOf(0), { stallAfter: 100_000 })], 'test/layers:v3', { idleTimeoutMs: 300 })
    expectPulled(r)
    expect(
      r.log.some((l) => l.includes(v3.layers[0].digest) && / bytes=[1-9][0-9]*-$/.test(l)),
      r.log.join('\n'),
    ).toBe(true)
  })

  it('a response that ends short resumes with Range; a blob shorter than its descriptor fails typed', async (ctx) => {
    if (skip) ctx.skip(skip)
    const r = await pullThrough([times(3, blobOf(0), { truncateAfter: 200_000 })], 'test/layers:v3')
    expectPulled(r)
    const short = await pullThrough(
      [
        times(1, blobOf(0), { truncateAfter: 1000 }),
        times(100, (req) => blobOf(0)(req) && req.headers.range !== undefined, { status: 416 }),
      ],
      'test/layers:v3',
    )
    expect(isLayerError(short.result, 'corrupt'), String(short.result)).toBe(true)
    expectUntouched(short)
  })

  it('a redirected blob GET is followed', async (ctx) => {
    if (skip) ctx.skip(skip)
    const r = await pullThrough([times(1, blobOf(0), { redirect: true })], 'test/layers:v3')
    expectPulled(r)
    expect(r.log.some((l) => l.startsWith('GET /_redirect/'))).toBe(true)
  })

  it('a blob whose bytes do not match its digest fails with digest-mismatch and removes the layers already made', async (ctx) => {
    if (skip) ctx.skip(skip)
    const garbage = Buffer.alloc(v3.layers[2].size, 0x1f)
    const r = await pullThrough([times(100, blobOf(2), { body: garbage })], 'test/layers:v3', { jobs: 1 })
    expect(isLayerError(r.result, 'digest-mismatch'), String(r.result)).toBe(true)
    expect((r.result as Error).message).toContain('test/layers:v3: blob:')
    expectUntouched(r)
  })

  it('a manifest whose bytes do not match the digest pulled fails with digest-mismatch', async (ctx) => {
    if (skip) ctx.skip(skip)
    const res = await fetch(`http://${registry!.host}/v2/test/layers/manifests/v3`, { headers: { accept: OCI_MANIFEST } })
    const body = Buffer.from(`${await res.text()} `)
    const r = await pullThrough([times(1, manifestGet, { body, contentType: OCI_MANIFEST })], `test/layers@${v3.digest}`)
    expect(isLayerError(r.result, 'digest-mismatch'), String(r.result)).toBe(true)
    expectUntouched(r)
  })

  it('a manifest over 4 MiB is refused with too-large before a blob is fetched', async (ctx) => {
    if (skip) ctx.skip(skip)
    const r = await pullThrough(
      [times(1, manifestGet, { body: Buffer.alloc(4 * 2 ** 20 + 1, 0x20), contentType: OCI_MANIFEST })],
      'test/layers:v3',
    )
    expect(isLayerError(r.result, 'too-large'), String(r.result)).toBe(true)
    expect(r.log.filter((l) => l.includes('/blobs/'))).toEqual([])
    expectUntouched(r)
  })

  it('an image with more layers than maxLayers is refused before a blob is fetched', async (ctx) => {
    if (skip) ctx.skip(skip)
    const r = await pullThrough([], 'test/layers:v3', { maxLayers: 2 })
    expect(isLayerError(r.result, 'too-large'), String(r.result)).toBe(true)
    expect(r.log.filter((l) => l.includes('/blobs/'))).toEqual([])
    expectUntouched(r)
  })

  it('a Helm chart and an image of zstd layers fail with unsupported before a layer is fetched', async (ctx) => {
    if (skip) ctx.skip(skip)
    for (const ref of ['test/helm:latest', 'test/zstd:latest']) {
      const r = await pullThrough([], ref)
      expect(isLayerError(r.result, 'unsupported'), `${ref}: ${String(r.result)}`).toBe(true)
      expect((r.result as Error).message).toContain(ref)
      expect(r.log.filter((l) => l.includes('/blobs/'))).toEqual([])
      expectUntouched(r)
    }
  })

  it('a missing tag fails with ERR_NOT_FOUND', async (ctx) => {
    if (skip) ctx.skip(skip)
    const r = await pullThrough([], 'test/layers:nope')
    expect(isSnapshotterError(r.result, 'ERR_NOT_FOUND'), String(r.result)).toBe(true)
    expectUntouched(r)
  })
})
