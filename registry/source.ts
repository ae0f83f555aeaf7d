/**
 * A registry image as an ImageSource: the manifest resolved (an index picks
 * the platform), the config fetched and checked, and each layer a verified,
 * resuming blob stream. It also keeps what a push needs to send the image
 * back unchanged: the manifest and config bytes, and each layer's blob.
 */
import type { Readable } from 'node:stream'
import { checkConfig, hostPlatform, parseJson, type ImageSource, type LayerBlob } from '../image/source.js'
import { InvalidLayerError } from '../layers/errors.js'
import type { RegistryClient } from './client.js'
import { blobStream, fetchManifest, fetchSmallBlob, type FetchedManifest, type Repo } from './fetchblob.js'
import { checkConfigType, checkPullableLayer, type Descriptor, parseManifest, pickPlatform, type Platform } from './manifest.js'
import { formatReference, type Reference } from './reference.js'

/** Configs larger than this are refused (they are a few KiB). */
const MAX_CONFIG_BYTES = 16 * 2 ** 20
const MAX_INDEX_DEPTH = 4
/** Images with more layers are refused before anything is fetched (overlay's mount options run out near 500). */
export const DEFAULT_MAX_LAYERS = 256

export interface RegistrySourceOptions {
  platform?: Platform
  maxLayers?: number
  signal?: AbortSignal
}

export interface RegistryLayerBlob extends LayerBlob {
  digest: string
  size: number
  /** Streams the blob; `onBytes` hears the bytes received so far. */
  fetch(opts?: { signal?: AbortSignal; onBytes?: (bytes: number) => void }): Readable
}

export interface RegistryImage extends ImageSource {
  manifestDigest: string
  layers: RegistryLayerBlob[]
  /** The manifest and config exactly as the registry sent them. */
  manifest: { mediaType: string; json: string }
  configJson: string
}

function where(e: unknown, ref: string, step: string): unknown {
  if (e instanceof InvalidLayerError && !e.message.startsWith(`${ref}:`)) {
    return new InvalidLayerError(e.reason, `${ref}: ${step}: ${e.message}`, { cause: e })
  }
  return e
}

async function resolveManifest(
  repo: Repo,
  ref: Reference,
  platform: Platform,
  signal?: AbortSignal,
): Promise<{ fetched: FetchedManifest; manifest: Extract<ReturnType<typeof parseManifest>, { kind: 'image' }> }> {
  let fetched = await fetchManifest(repo, ref.digest ?? ref.tag ?? 'latest', signal)
  for (let depth = 0; ; depth++) {
    const manifest = parseManifest(fetched.bytes, fetched.contentType)
    if (manifest.kind === 'image') return { fetched, manifest }
    if (depth >= MAX_INDEX_DEPTH) throw new InvalidLayerError('bad-image', 'image indexes nest too deep')
    fetched = await fetchManifest(repo, pickPlatform(manifest.manifests, platform).digest, signal)
  }
}

export async function openRegistryImage(client: RegistryClient, ref: Reference, opts: RegistrySourceOptions = {}): Promise<RegistryImage> {
  const name = formatReference(ref)
  const repo: Repo = { client, repository: ref.repository, ref: name }
  let step = 'manifest'
  try {
    const { fetched, manifest } = await resolveManifest(repo, ref, opts.platform ?? hostPlatform(), opts.signal)
    const max = opts.maxLayers ?? DEFAULT_MAX_LAYERS
    if (manifest.layers.length > max)
      throw new InvalidLayerError('too-large', `the image has ${manifest.layers.length} layers, over the limit of ${max}`)
    checkConfigType(manifest.config)
    for (const [i, d] of manifest.layers.entries()) checkPullableLayer(d, i)
    step = 'config'
    const configBytes = await fetchSmallBlob(repo, manifest.config, { ref: name, step: 'config' }, MAX_CONFIG_BYTES)
    const config = checkConfig(parseJson(configBytes, 'config'), manifest.layers.length)
    return {
      ref: name,
      manifestDigest: fetched.digest,
      configDigest: manifest.config.digest,
      config,
      manifest: { mediaType: manifest.mediaType, json: fetched.bytes.toString('utf8') },
      configJson: configBytes.toString('utf8'),
      layers: manifest.layers.map((d: Descriptor, i) => {
        const fetch = (o: { signal?: AbortSignal; onBytes?: (bytes: number) => void } = {}): Readable => blobStream(repo, d, o)
        return {
          mediaType: d.mediaType,
          digest: d.digest,
          size: d.size,
          diffId: config.rootfs.diff_ids[i],
          fetch,
          open: async () => fetch(),
        }
      }),
      close: async () => {},
    }
  } catch (e) {
    throw where(e, name, step)
  }
}
