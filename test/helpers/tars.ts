/** Hand-made layer tars (tar-stream pack), hostile ones included: names are written verbatim. */
import { Readable } from 'node:stream'
import { createGzip } from 'node:zlib'
import tarStream from 'tar-stream'

export interface TarEntry {
  name: string
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device'
  content?: string | Buffer
  linkname?: string
  mode?: number
  uid?: number
  gid?: number
  mtime?: Date
  devmajor?: number
  devminor?: number
  pax?: Record<string, string>
}

const FIXED_TIME = new Date(1_600_000_000_000)

export async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const pack = tarStream.pack()
  const chunks: Buffer[] = []
  const collected = (async () => {
    for await (const c of pack as AsyncIterable<Buffer>) chunks.push(c)
  })()
  for (const e of entries) {
    const type = e.type ?? 'file'
    const typeBits = type === 'directory' ? 0o40000 : 0o100000
    const header = {
      name: e.name,
      type,
      mode: typeBits | (e.mode ?? (type === 'directory' ? 0o755 : 0o644)),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? FIXED_TIME,
      ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
      ...(e.devmajor === undefined ? {} : { devmajor: e.devmajor }),
      ...(e.devminor === undefined ? {} : { devminor: e.devminor }),
      ...(e.pax === undefined ? {} : { pax: e.pax }),
    }
    await new Promise<void>((resolve, reject) => {
      const body = type === 'file' ? Buffer.from(e.content ?? '') : Buffer.alloc(0)
      pack.entry(header, body, (err) => (err ? reject(err) : resolve()))
    })
  }
  pack.finalize()
  await collected
  return Buffer.concat(chunks)
}

export async function gzip(data: Buffer | AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of Readable.from(Buffer.isBuffer(data) ? [data] : data).pipe(createGzip())) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/** A gzip'd tar holding one file of `bytes` zeros, made without holding it in memory. */
export async function gzipBomb(bytes: number): Promise<Buffer> {
  const pack = tarStream.pack()
  const sink = pack.entry({ name: 'zeros', size: bytes, mode: 0o100644, mtime: FIXED_TIME })
  const zero = Buffer.alloc(1 << 20)
  const writing = (async () => {
    for (let left = bytes; left > 0; left -= zero.length) {
      if (!sink.write(zero.subarray(0, Math.min(left, zero.length)))) await new Promise<void>((r) => sink.once('drain', () => r()))
    }
    sink.end(undefined as never)
    pack.finalize()
  })()
  const out = await gzip(pack as AsyncIterable<Buffer>)
  await writing
  return out
}
