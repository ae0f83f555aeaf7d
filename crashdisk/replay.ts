/**
 * Cutting the power: from a recording's log, the disk image as it may be
 * after a power cut right after flush k. Every write logged before flush k is
 * on disk (the flush waited for them); of the writes after it and before the
 * next flush, any subset may be (the kernel reorders and the device caches),
 * so each is kept or dropped at random, from a seed, in log order.
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { readLog, type LogRecord } from './log.js'
import { run } from './disk.js'

export interface Cut {
  /** 1-based index of the flush the power was cut after. */
  flush: number
  flushes: number
  /** The last operation whose `ack` the log shows before the next flush (-1: not even the setup). */
  acked: number
  /** The last operation that had started (its `start` mark logged before the next flush). */
  started: number
  /** Writes after the flush that this cut keeps, of how many. */
  kept: number
  pending: number
}

/** A small deterministic PRNG (mulberry32), so a failing cut can be rebuilt from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function applyWrite(fd: number, r: Extract<LogRecord, { kind: 'write' }>): void {
  writeSync(fd, r.data, 0, r.data.length, r.offset)
}

export interface CutOptions {
  seed: number
  /** Only flushes after the mark `ack <n>` (e.g. 0: skip the setup); undefined: every flush. */
  after?: number
}

/**
 * Yields each cut with its image at `<work>/cut.img`, built from `base` and
 * the log; the image is rebuilt for the next cut, so check it before moving on.
 */
export async function* cuts(logPath: string, base: string, work: string, opts: CutOptions): AsyncGenerator<Cut & { image: string }> {
  const records = readLog(logPath)
  const flushAt: number[] = []
  for (const [i, r] of records.entries()) if (r.kind === 'flush') flushAt.push(i)
  const running = join(work, 'running.img')
  const image = join(work, 'cut.img')
  await run('cp', ['--sparse=always', base, running])
  const fd = openSync(running, 'r+')
  try {
    let acked = -1
    let started = -1
    let next = 0
    for (const [k, at] of flushAt.entries()) {
      for (; next < at; next++) {
        const r = records[next]
        if (r.kind === 'write') applyWrite(fd, r)
        else if (r.kind === 'mark') [acked, started] = track(r.text, acked, started)
      }
      next = at + 1
      // Marks up to the next flush belong to this cut: their operations' flushes are at or before flush k.
      const end = flushAt[k + 1] ?? records.length
      const pending: Extract<LogRecord, { kind: 'write' }>[] = []
      let cutAcked = acked
      let cutStarted = started
      for (let i = at + 1; i < end; i++) {
        const r = records[i]
        if (r.kind === 'write') pending.push(r)
        else if (r.kind === 'mark') [cutAcked, cutStarted] = track(r.text, cutAcked, cutStarted)
      }
      if (opts.after !== undefined && cutAcked < opts.after) continue
      await run('cp', ['--sparse=always', running, image])
      const rand = prng(opts.seed * 100_003 + k)
      const cutFd = openSync(image, 'r+')
      let kept = 0
      try {
        for (const w of pending) {
          if (rand() < 0.5) {
            applyWrite(cutFd, w)
            kept++
          }
        }
      } finally {
        closeSync(cutFd)
      }
      yield { image, flush: k + 1, flushes: flushAt.length, acked: cutAcked, started: cutStarted, kept, pending: pending.length }
    }
  } finally {
    closeSync(fd)
  }
}

function track(text: string, acked: number, started: number): [number, number] {
  for (const line of text.split('\n')) {
    const m = /^(ack|start) (\d+)$/.exec(line.trim())
    if (!m) continue
    if (m[1] === 'ack') acked = Math.max(acked, Number(m[2]))
    else started = Math.max(started, Number(m[2]))
  }
  return [acked, Math.max(started, acked)]
}
