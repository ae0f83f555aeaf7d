/**
 * What an image import needs from an image, whatever holds it: the config
 * (with `rootfs.diff_ids`), and each layer blob as a stream with the digest
 * and size to verify it against. `image/ocilayout.ts` and
 * `image/dockerarchive.ts` read the two formats; the rules they share are here
 * (pure).
 */
import type { Readable } from 'node:stream'
import { isDigest } from '../layers/digest.js'
import { InvalidLayerError } from '../layers/errors.js'

export interface LayerBlob {
  mediaType: string
  /** Digest of the blob's bytes as stored (compressed or not), when the format records one. */
  digest?: string | undefined
  /** Size of the blob in bytes, when the format records it. */
  size?: number | undefined
  /** The DiffID the config promises for this layer. */
  diffId: string
  open(): Promise<Readable>
}

export interface ImageConfig {
  rootfs: { type: string; diff_ids: string[] }
  [field: string]: unknown
}

export interface ImageSource {
  /** The image's own name in the source (OCI ref.name annotation, Docker RepoTag). */
  ref?: string | undefined
  /** Digest of the manifest (OCI layouts only). */
  manifestDigest?: string
  configDigest: string
  config: ImageConfig
  layers: LayerBlob[]
  close(): Promise<void>
}

export interface SelectOptions {
  /** Which image of a layout or archive that holds several: its ref name or tag. */
  ref?: string
  /** Which platform of a multi-platform index (default: linux and this machine's architecture). */
  platform?: { os: string; architecture: string }
}

/** Layer media types strata unpacks (OCI, Docker, and their non-distributable kinds). */
const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
])

export function checkLayerType(mediaType: unknown): string {
  if (typeof mediaType !== 'string' || !LAYER_TYPES.has(mediaType)) {
    throw new InvalidLayerError('unsupported', `layer media type ${JSON.stringify(mediaType)} is not one strata unpacks`)
  }
  return mediaType
}

/** Parses JSON from an image, naming what it was on failure. */
export function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'))
  } catch (err) {
    throw new InvalidLayerError('bad-image', `${what} is not valid JSON`, { cause: err })
  }
}

/** The config's DiffIDs, checked: one valid sha256 digest per layer. */
export function checkConfig(value: unknown, layers: number): ImageConfig {
  const rootfs = (value as { rootfs?: { type?: unknown; diff_ids?: unknown } } | null)?.rootfs
  if (rootfs?.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw new InvalidLayerError('bad-image', 'image config has no rootfs of type "layers" with diff_ids')
  }
  for (const d of rootfs.diff_ids) {
    if (!isDigest(d)) throw new InvalidLayerError('bad-image', `config lists DiffID ${JSON.stringify(d)}, not a sha256 digest`)
  }
  if (rootfs.diff_ids.length !== layers) {
    throw new InvalidLayerError('bad-image', `config lists ${rootfs.diff_ids.length} DiffIDs for ${layers} layers`)
  }
  return value as ImageConfig
}

export function hostPlatform(): { os: string; architecture: string } {
  const arch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
  }
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch }
}

/** True when `want` names `ref`: exactly, or as its tag (`latest` for `busybox:latest`). */
export function refMatches(ref: string | undefined, want: string): boolean {
  if (ref === undefined) return false
  return ref === want || ref.endsWith(`:${want}`) || ref.split('@')[0] === want
}
