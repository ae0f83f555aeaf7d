/**
 * Manifests as registries serve them (pure): the media types a pull asks for,
 * the index or image manifest a body is, the platform an index picks, and
 * which configs and layers strata can turn into snapshots. Anything else (a
 * Helm chart, zstd layers, schema 1) is refused before a blob is fetched.
 */
import { isDigest } from '../layers/digest.js'
import { InvalidLayerError } from '../layers/errors.js'
import { checkLayerType } from '../image/source.js'

export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json'
export const OCI_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip'
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json'
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
export const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json'

/** The Accept header of a manifest GET: what strata reads, most wanted first. */
export const MANIFEST_ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(', ')
/** Manifests larger than this are refused (containerd and the distribution spec use 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 2 ** 20

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { os?: string; architecture?: string; variant?: string }
  annotations?: Record<string, string>
}

export type Manifest =
  | { kind: 'index'; mediaType: string; manifests: Descriptor[] }
  | { kind: 'image'; mediaType: string; config: Descriptor; layers: Descriptor[] }

export interface Platform {
  os: string
  architecture: string
  variant?: string
}

function checkDescriptor(d: unknown, what: string): Descriptor {
  const desc = d as Partial<Descriptor> | null
  if (!desc || !isDigest(desc.digest) || !Number.isSafeInteger(desc.size) || (desc.size as number) < 0) {
    throw new InvalidLayerError('bad-image', `${what} is not a descriptor with a sha256 digest and a size`)
  }
  return { ...desc, mediaType: typeof desc.mediaType === 'string' ? desc.mediaType : '' } as Descriptor
}

/** Reads a manifest body; `contentType` is the response's, used when the body names no mediaType. */
export function parseManifest(bytes: Buffer, contentType: string): Manifest {
  let body: { mediaType?: unknown; schemaVersion?: unknown; manifests?: unknown; config?: unknown; layers?: unknown }
  try {
    body = JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    throw new InvalidLayerError('bad-image', 'the manifest is not valid JSON', { cause: err })
  }
  const mediaType = typeof body?.mediaType === 'string' ? body.mediaType : contentType.split(';')[0].trim()
  if (body?.schemaVersion !== 2)
    throw new InvalidLayerError(
      'unsupported',
      `manifest schema version ${JSON.stringify(body?.schemaVersion)} is not 2 (schema 1 is not read)`,
    )
  if (mediaType === OCI_INDEX || mediaType === DOCKER_LIST || (Array.isArray(body.manifests) && mediaType === '')) {
    if (!Array.isArray(body.manifests)) throw new InvalidLayerError('bad-image', 'the index has no manifests')
    return { kind: 'index', mediaType, manifests: body.manifests.map((d, i) => checkDescriptor(d, `index manifests[${i}]`)) }
  }
  if (mediaType !== OCI_MANIFEST && mediaType !== DOCKER_MANIFEST && mediaType !== '') {
    throw new InvalidLayerError('unsupported', `manifest media type ${JSON.stringify(mediaType)} is not an image`)
  }
  if (!Array.isArray(body.layers)) throw new InvalidLayerError('bad-image', 'the manifest has no layers')
  return {
    kind: 'image',
    mediaType: mediaType || OCI_MANIFEST,
    config: checkDescriptor(body.config, 'manifest config'),
    layers: body.layers.map((d, i) => checkDescriptor(d, `manifest layers[${i}]`)),
  }
}

/** The index entry for `want`; a variant is matched when asked for, else the first of the architecture. */
export function pickPlatform(manifests: Descriptor[], want: Platform): Descriptor {
  const fits = manifests.filter(
    (d) =>
      d.platform?.os === want.os &&
      d.platform?.architecture === want.architecture &&
      (want.variant === undefined || d.platform?.variant === want.variant),
  )
  if (fits.length === 0) {
    const have = manifests
      .map((d) => [d.platform?.os, d.platform?.architecture, d.platform?.variant].filter(Boolean).join('/'))
      .filter(Boolean)
    const wanted = [want.os, want.architecture, want.variant].filter(Boolean).join('/')
    throw new InvalidLayerError('unsupported', `the index has no image for ${wanted} (it has ${have.join(', ') || 'no platforms'})`)
  }
  return fits[0]
}

/** `os/arch[/variant]` as --platform takes it. */
export function parsePlatform(text: string): Platform {
  const [os, architecture, variant, extra] = text.split('/')
  if (!os || !architecture || extra !== undefined)
    throw new InvalidLayerError('bad-image', `platform ${JSON.stringify(text)} is not os/arch[/variant]`)
  return variant ? { os, architecture, variant } : { os, architecture }
}

/** The config must be a container image's; an artifact (a Helm chart, a signature) is not one. */
export function checkConfigType(d: Descriptor): void {
  if (d.mediaType !== OCI_CONFIG && d.mediaType !== DOCKER_CONFIG) {
    throw new InvalidLayerError('unsupported', `config media type ${JSON.stringify(d.mediaType)} is not a container image's (an artifact?)`)
  }
}

/** A layer strata can unpack from a registry: plain or gzip tar (zstd needs a zlib Node 20 lacks). */
export function checkPullableLayer(d: Descriptor, i: number): void {
  if (d.mediaType.endsWith('+zstd'))
    throw new InvalidLayerError('unsupported', `layer ${i} is zstd-compressed (${d.mediaType}); strata reads plain and gzip layers`)
  try {
    checkLayerType(d.mediaType)
  } catch (err) {
    throw new InvalidLayerError('unsupported', `layer ${i} has media type ${JSON.stringify(d.mediaType)}, not a layer strata unpacks`, {
      cause: err,
    })
  }
}

/** The OCI media type of a layer blob, for a manifest strata writes (Docker's names mean the same bytes). */
export function ociLayerType(mediaType: string): string {
  if (mediaType === 'application/vnd.docker.image.rootfs.diff.tar.gzip') return OCI_LAYER_GZIP
  if (mediaType === 'application/vnd.docker.image.rootfs.diff.tar') return 'application/vnd.oci.image.layer.v1.tar'
  if (mediaType === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip')
    return 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip'
  return mediaType
}
