/**
 * Reads a `docker save` archive: a tar whose `manifest.json` lists, per image,
 * its `Config` file, `RepoTags` and `Layers` (paths inside the archive; older
 * Docker writes `<id>/layer.tar`, newer writes `blobs/sha256/<hex>` beside an
 * OCI index). The archive is indexed in one pass and each layer is then read
 * in place by offset, so nothing is extracted. A gzip-compressed archive is
 * first decompressed to a temporary file.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import tarStream from 'tar-stream'
import { isDigest, sha256Digest } from '../layers/digest.js'
import { InvalidLayerError } from '../layers/errors.js'
import { checkConfig, parseJson, refMatches, type ImageSource, type SelectOptions } from './source.js'

const MAX_JSON_BYTES = 16 * 2 ** 20

interface Member {
  offset: number
  size: number
  type: string
  linkname?: string
}

interface ManifestEntry {
  Config?: unknown
  RepoTags?: unknown
  Layers?: unknown
}

export async function isGzipFile(path: string): Promise<boolean> {
  const fh = await open(path, 'r')
  try {
    const head = Buffer.alloc(2)
    await fh.read(head, 0, 2, 0)
    return head[0] === 0x1f && head[1] === 0x8b
  } finally {
    await fh.close()
  }
}

/** Offsets of every member of an uncompressed tar. */
async function indexTar(path: string): Promise<Map<string, Member>> {
  const members = new Map<string, Member>()
  const extract = tarStream.extract()
  const reading = pipeline(createReadStream(path), extract as unknown as NodeJS.WritableStream)
  try {
    for await (const entry of extract) {
      const h = entry.header as typeof entry.header & { byteOffset: number }
      const name = posix
        .normalize(h.name)
        .replace(/^(\.\/|\/)+/, '')
        .replace(/\/$/, '')
      members.set(name, { offset: h.byteOffset, size: h.size ?? 0, type: h.type ?? 'file', linkname: h.linkname ?? undefined })
      entry.resume()
    }
    await reading
  } catch (err) {
    throw new InvalidLayerError('corrupt', `${path} is not a readable tar archive: ${(err as Error).message}`, { cause: err })
  }
  return members
}

export async function openDockerArchive(path: string, opts: SelectOptions = {}): Promise<ImageSource> {
  let file = path
  let tmp: string | undefined
  if (await isGzipFile(path)) {
    tmp = await mkdtemp(join(tmpdir(), 'strata-archive-'))
    file = join(tmp, 'archive.tar')
    await pipeline(createReadStream(path), createGunzip(), createWriteStream(file)).catch((err: unknown) => {
      throw new InvalidLayerError('corrupt', `${path}: gzip stream is corrupt`, { cause: err })
    })
  }
  const close = async (): Promise<void> => {
    if (tmp) await rm(tmp, { recursive: true, force: true })
  }
  try {
    return await readArchive(file, path, opts, close)
  } catch (err) {
    await close()
    throw err
  }
}

async function readArchive(file: string, shownAs: string, opts: SelectOptions, close: () => Promise<void>): Promise<ImageSource> {
  const members = await indexTar(file)
  const member = (name: string, depth = 0): Member => {
    const m = members.get(posix.normalize(name).replace(/^(\.\/|\/)+/, ''))
    if (!m) throw new InvalidLayerError('bad-image', `${shownAs} has no ${JSON.stringify(name)}`)
    if (m.type === 'symlink' || m.type === 'link') {
      if (depth > 8 || !m.linkname) throw new InvalidLayerError('bad-image', `${name} is a link that leads nowhere`)
      const target = m.type === 'symlink' ? posix.join(posix.dirname(name), m.linkname) : m.linkname
      if (target.startsWith('..')) throw new InvalidLayerError('unsafe-path', `${name} links outside the archive`)
      return member(target, depth + 1)
    }
    if (m.type !== 'file' && m.type !== 'contiguous-file') throw new InvalidLayerError('bad-image', `${name} is not a file`)
    return m
  }
  const read = async (name: string): Promise<Buffer> => {
    const m = member(name)
    if (m.size > MAX_JSON_BYTES) throw new InvalidLayerError('too-large', `${name} is over ${MAX_JSON_BYTES} bytes`)
    const fh = await open(file, 'r')
    try {
      const buf = Buffer.alloc(m.size)
      await fh.read(buf, 0, m.size, m.offset)
      return buf
    } finally {
      await fh.close()
    }
  }
  const manifest = parseJson(await read('manifest.json'), 'manifest.json')
  if (!Array.isArray(manifest) || manifest.length === 0) throw new InvalidLayerError('bad-image', 'manifest.json lists no images')
  const image = pick(manifest as ManifestEntry[], opts.ref)
  if (typeof image.Config !== 'string' || !Array.isArray(image.Layers) || !image.Layers.every((l) => typeof l === 'string')) {
    throw new InvalidLayerError('bad-image', 'manifest.json entry needs Config and Layers paths')
  }
  const configBytes = await read(image.Config)
  const configDigest = sha256Digest(configBytes)
  const named = digestInName(image.Config)
  if (named !== undefined && named !== configDigest) {
    throw new InvalidLayerError('digest-mismatch', `config ${image.Config} does not hash to its name (${configDigest})`)
  }
  const layers = image.Layers as string[]
  const config = checkConfig(parseJson(configBytes, image.Config), layers.length)
  const tags = Array.isArray(image.RepoTags) ? image.RepoTags.filter((t): t is string => typeof t === 'string') : []
  return {
    ref: opts.ref !== undefined ? tags.find((t) => refMatches(t, opts.ref!)) : tags[0],
    configDigest,
    config,
    layers: layers.map((name, i) => {
      const m = member(name)
      return {
        mediaType: 'application/vnd.docker.image.rootfs.diff.tar',
        digest: digestInName(name),
        size: m.size,
        diffId: config.rootfs.diff_ids[i],
        open: async (): Promise<Readable> =>
          m.size === 0 ? Readable.from([]) : createReadStream(file, { start: m.offset, end: m.offset + m.size - 1 }),
      }
    }),
    close,
  }
}

/** `blobs/sha256/<hex>` or `<hex>.json` name their content's digest; `<id>/layer.tar` does not. */
function digestInName(name: string): string | undefined {
  const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(name)
  if (blob) return `sha256:${blob[1]}`
  const json = /^([a-f0-9]{64})\.json$/.exec(name)
  const d = json ? `sha256:${json[1]}` : undefined
  return d !== undefined && isDigest(d) ? d : undefined
}

function pick(images: ManifestEntry[], ref: string | undefined): ManifestEntry {
  const tagsOf = (m: ManifestEntry): string[] =>
    Array.isArray(m.RepoTags) ? m.RepoTags.filter((t): t is string => typeof t === 'string') : []
  if (ref !== undefined) {
    const found = images.find((m) => tagsOf(m).some((t) => refMatches(t, ref)))
    if (!found) throw new InvalidLayerError('bad-image', `no image tagged ${JSON.stringify(ref)} in the archive`)
    return found
  }
  if (images.length !== 1) {
    throw new InvalidLayerError(
      'bad-image',
      `the archive holds ${images.length} images (${images.flatMap(tagsOf).join(', ')}): say which with ref`,
    )
  }
  return images[0]
}
