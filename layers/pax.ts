/**
 * PAX extended headers as bytes. tar-stream decodes each record's value as
 * UTF-8, which mangles binary xattr values (security.capability is a 20-byte
 * struct) and silently stops at a malformed record; here the raw header is
 * kept and parsed strictly: `<len> <key>=<value>\n`, `len` counting bytes of
 * the whole record, the value taken as the bytes it is.
 */
import type tarStream from 'tar-stream'
import { XATTR_NAME_MAX, XATTR_VALUE_MAX } from '../core/snapshotter.js'
import { InvalidLayerError } from './errors.js'

export const XATTR_PREFIX = 'SCHILY.xattr.'

export type PaxRecords = Map<string, Buffer>

/** Parses one PAX header; throws 'corrupt' for a record that does not hold together. */
export function parsePax(buf: Buffer, entry: string): PaxRecords {
  const out: PaxRecords = new Map()
  let at = 0
  while (at < buf.length) {
    // GNU tar and others pad with NULs after the last record.
    if (buf[at] === 0 && buf.subarray(at).every((b) => b === 0)) break
    const space = buf.indexOf(0x20, at)
    const digits = space < 0 ? '' : buf.toString('latin1', at, space)
    const len = /^[1-9][0-9]{0,9}$/.test(digits) ? Number(digits) : Number.NaN
    if (!Number.isSafeInteger(len) || at + len > buf.length || buf[at + len - 1] !== 0x0a) {
      throw new InvalidLayerError('corrupt', `malformed PAX record at byte ${at}`, { entry })
    }
    const eq = buf.indexOf(0x3d, space + 1)
    if (eq < 0 || eq >= at + len - 1 || eq === space + 1)
      throw new InvalidLayerError('corrupt', `PAX record at byte ${at} has no key`, { entry })
    out.set(buf.toString('utf8', space + 1, eq), buf.subarray(eq + 1, at + len - 1))
    at += len
  }
  return out
}

/** The SCHILY.xattr.* records of an entry, checked against Linux's limits. */
export function paxXattrs(records: PaxRecords | undefined, entry: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>()
  if (!records) return out
  for (const [key, value] of records) {
    if (!key.startsWith(XATTR_PREFIX)) continue
    const name = key.slice(XATTR_PREFIX.length)
    if (name === '' || Buffer.byteLength(name) > XATTR_NAME_MAX) {
      throw new InvalidLayerError('too-large', `xattr name ${JSON.stringify(name.slice(0, 40))} is empty or over ${XATTR_NAME_MAX} bytes`, {
        entry,
      })
    }
    if (value.length > XATTR_VALUE_MAX) {
      throw new InvalidLayerError('too-large', `xattr ${name} has a value over ${XATTR_VALUE_MAX} bytes`, { entry })
    }
    out.set(name, value)
  }
  return out
}

/**
 * Lets an extract stream hand over each entry's raw PAX header: the header
 * object gets `paxRaw` (tar-stream 3's long-header hooks; the package is
 * pinned by the lockfile, and the apply tests fail if the hook stops firing).
 */
export function keepRawPax(extract: tarStream.Extract): void {
  const x = extract as unknown as {
    _decodeLongHeader(buf: Buffer): void
    _applyLongHeaders(): void
    _header: { type: string; paxRaw?: Buffer | null }
  }
  const decode = x._decodeLongHeader
  const apply = x._applyLongHeaders
  if (typeof decode !== 'function' || typeof apply !== 'function') throw new Error('tar-stream has no long-header hooks')
  let raw: Buffer | null = null
  x._decodeLongHeader = function (this: typeof x, buf: Buffer): void {
    // A second PAX header replaces the first, as tar-stream (and Go) treat it.
    if (this._header.type === 'pax-header') raw = Buffer.from(buf)
    decode.call(this, buf)
  }
  x._applyLongHeaders = function (this: typeof x): void {
    this._header.paxRaw = raw
    raw = null
    apply.call(this)
  }
}

/** One PAX record: its length prefix counts itself. */
function record(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')])
  let len = body.length + 1
  while (String(len).length + body.length !== len) len = String(len).length + body.length
  return Buffer.concat([Buffer.from(String(len)), body])
}

/** A PAX header body from records in the given order. */
export function encodePax(records: Array<[string, Buffer]>): Buffer {
  return Buffer.concat(records.map(([k, v]) => record(k, v)))
}

function octal(buf: Buffer, at: number, width: number, n: number): void {
  buf.write(`${n.toString(8).padStart(width - 1, '0')}\0`, at, width, 'latin1')
}

/**
 * A whole PAX extended header ('x'): its ustar block, then the records
 * padded to 512 bytes. tar-stream writes PAX values as UTF-8 text only, so
 * export writes this itself ahead of the entry's own header.
 */
export function paxHeaderBlock(name: string, body: Buffer, mtime: Date): Buffer {
  const h = Buffer.alloc(512)
  h.write(name, 0, 100, 'latin1')
  octal(h, 100, 8, 0o644)
  octal(h, 108, 8, 0)
  octal(h, 116, 8, 0)
  octal(h, 124, 12, body.length)
  octal(h, 136, 12, Math.max(0, Math.floor(mtime.getTime() / 1000)))
  h.fill(0x20, 148, 156)
  h[156] = 0x78 // 'x'
  h.write('ustar\u000000', 257, 8, 'latin1')
  let sum = 0
  for (const b of h) sum += b
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1')
  const pad = (512 - (body.length % 512)) % 512
  return Buffer.concat([h, body, Buffer.alloc(pad)])
}
