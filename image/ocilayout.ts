/**
 * Reads an OCI image layout directory (image-spec image-layout.md):
 * `oci-layout`, `index.json`, `blobs/<alg>/<hex>`. Every blob read whole
 * (index, manifest, config) is checked against its descriptor's digest and
 * size; layer blobs are streamed, and their digest is checked by the importer.
 */
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { isDigest, sha256Digest } from '../layers/digest.js'
import { InvalidLayerError } from '../layers/errors.js'
import { checkConfig, checkLayerType, hostPlatform, parseJson, refMatches, type ImageSource, type SelectOptions } from './source.js'

/** Indexes, manifests and configs larger than this are refused (they are a few KiB). */
const MAX_JSON_BYTES = 16 * 2 ** 20
const REF_NAME = 'org.opencontainers.image.ref.name'
const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'])

interface Descriptor {
  mediaType?: string
  digest: string
  size: number
  annotations?: Record<string, string>
  platform?: { os?: string; architecture?: string }
}

function checkDescriptor(d: unknown, what: string): Descriptor {
  const desc = d as Partial<Descriptor> | null
  if (!desc || !isDigest(desc.digest) || !Number.isSafeInteger(desc.size) || (desc.size as number) < 0) {
    throw new InvalidLayerError('bad-image', `${what} is not a valid descriptor with a sha256 digest and a size`)
  }
  return desc as Descriptor
}

export async function isOciLayout(dir: string): Promise<boolean> {
  try {
    return (await stat(join(dir, 'oci-layout'))).isFile()
  } catch {
    return false
  }
}

export async function openOciLayout(dir: string, opts: SelectOptions = {}): Promise<ImageSource> {
  const blobPath = (digest: string): string => join(dir, 'blobs', ...digest.split(':'))
  const readBlob = async (d: Descriptor, what: string): Promise<Buffer> => {
    if (d.size > MAX_JSON_BYTES) throw new InvalidLayerError('too-large', `${what} is ${d.size} bytes, over ${MAX_JSON_BYTES}`)
    const bytes = await readFile(blobPath(d.digest)).catch((err: unknown) => {
      throw new InvalidLayerError('bad-image', `${what} blob ${d.digest} is missing`, { cause: err })
    })
    if (bytes.length !== d.size || sha256Digest(bytes) !== d.digest) {
      throw new InvalidLayerError('digest-mismatch', `${what} blob does not match its descriptor ${d.digest} (${d.size} bytes)`)
    }
    return bytes
  }
  const layout = parseJson(await readFile(join(dir, 'oci-layout')), 'oci-layout') as { imageLayoutVersion?: unknown }
  if (typeof layout?.imageLayoutVersion !== 'string') throw new InvalidLayerError('bad-image', 'oci-layout has no imageLayoutVersion')
  const index = parseJson(await readFile(join(dir, 'index.json')), 'index.json') as { manifests?: unknown }
  if (!Array.isArray(index?.manifests)) throw new InvalidLayerError('bad-image', 'index.json has no manifests')
  let desc = pickByRef(
    index.manifests.map((d, i) => checkDescriptor(d, `index.json manifests[${i}]`)),
    opts.ref,
  )
  const ref = desc.annotations?.[REF_NAME]
  for (let depth = 0; INDEX_TYPES.has(desc.mediaType ?? ''); depth++) {
    if (depth > 4) throw new InvalidLayerError('bad-image', 'image indexes nest too deep')
    const nested = parseJson(await readBlob(desc, 'image index'), 'image index') as { manifests?: unknown[] }
    desc = pickPlatform(
      (nested.manifests ?? []).map((d, i) => checkDescriptor(d, `index manifests[${i}]`)),
      opts.platform ?? hostPlatform(),
    )
  }
  const manifest = parseJson(await readBlob(desc, 'manifest'), 'manifest') as { config?: unknown; layers?: unknown }
  if (!Array.isArray(manifest?.layers)) throw new InvalidLayerError('bad-image', `manifest ${desc.digest} has no layers`)
  const configDesc = checkDescriptor(manifest.config, 'manifest config')
  const layerDescs = manifest.layers.map((d, i) => checkDescriptor(d, `manifest layers[${i}]`))
  const config = checkConfig(parseJson(await readBlob(configDesc, 'config'), 'config'), layerDescs.length)
  return {
    ref,
    manifestDigest: desc.digest,
    configDigest: configDesc.digest,
    config,
    layers: layerDescs.map((d, i) => ({
      mediaType: checkLayerType(d.mediaType),
      digest: d.digest,
      size: d.size,
      diffId: config.rootfs.diff_ids[i],
      open: async (): Promise<Readable> => {
        await stat(blobPath(d.digest)).catch((err: unknown) => {
          throw new InvalidLayerError('bad-image', `layer blob ${d.digest} is missing`, { cause: err })
        })
        return createReadStream(blobPath(d.digest))
      },
    })),
    close: async () => {},
  }
}

function pickByRef(manifests: Descriptor[], ref: string | undefined): Descriptor {
  const refs = manifests.map((d) => d.annotations?.[REF_NAME])
  if (ref !== undefined) {
    const found = manifests.find((_, i) => refMatches(refs[i], ref))
    if (!found)
      throw new InvalidLayerError(
        'bad-image',
        `no image named ${JSON.stringify(ref)} (the layout has ${refs.filter(Boolean).join(', ') || 'no names'})`,
      )
    return found
  }
  if (manifests.length !== 1) {
    throw new InvalidLayerError(
      'bad-image',
      `the layout holds ${manifests.length} images (${refs.filter(Boolean).join(', ')}): say which with ref`,
    )
  }
  return manifests[0]
}

function pickPlatform(manifests: Descriptor[], want: { os: string; architecture: string }): Descriptor {
  const found = manifests.find((d) => d.platform?.os === want.os && d.platform?.architecture === want.architecture)
  if (!found) throw new InvalidLayerError('bad-image', `the index has no image for ${want.os}/${want.architecture}`)
  return found
}
