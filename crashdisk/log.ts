/**
 * The crash disk's log: what reached the disk, in order.
 *
 *   record := kind:u8 pad:u8[3] length:u32le offset:f64le payload[length]
 *   kind 1 WRITE  offset = byte offset in the image, payload = the bytes
 *   kind 2 FLUSH  (an fsync of the image: everything before it is durable)
 *   kind 3 MARK   payload = one utf8 line from the workload
 */
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'

export type LogRecord = { kind: 'write'; offset: number; data: Buffer } | { kind: 'flush' } | { kind: 'mark'; text: string }

const HEADER = 16
const KIND = { write: 1, flush: 2, mark: 3 } as const

export class LogWriter {
  readonly #fd: number
  constructor(path: string) {
    this.#fd = openSync(path, 'w')
  }
  #append(kind: number, offset: number, payload: Buffer): void {
    const head = Buffer.alloc(HEADER)
    head.writeUInt8(kind, 0)
    head.writeUInt32LE(payload.length, 4)
    head.writeDoubleLE(offset, 8)
    writeSync(this.#fd, head)
    if (payload.length > 0) writeSync(this.#fd, payload)
  }
  write(offset: number, data: Buffer): void {
    this.#append(KIND.write, offset, data)
  }
  flush(): void {
    this.#append(KIND.flush, 0, Buffer.alloc(0))
  }
  mark(text: string): void {
    this.#append(KIND.mark, 0, Buffer.from(text, 'utf8'))
  }
  close(): void {
    closeSync(this.#fd)
  }
}

export function readLog(path: string): LogRecord[] {
  const buf = readFileSync(path)
  const out: LogRecord[] = []
  let at = 0
  while (at + HEADER <= buf.length) {
    const kind = buf.readUInt8(at)
    const length = buf.readUInt32LE(at + 4)
    const offset = buf.readDoubleLE(at + 8)
    const payload = buf.subarray(at + HEADER, at + HEADER + length)
    at += HEADER + length
    if (kind === KIND.write) out.push({ kind: 'write', offset, data: payload })
    else if (kind === KIND.flush) out.push({ kind: 'flush' })
    else if (kind === KIND.mark) out.push({ kind: 'mark', text: payload.toString('utf8') })
    else throw new Error(`crash log ${path}: unknown record kind ${kind} at byte ${at - HEADER - length}`)
  }
  return out
}
