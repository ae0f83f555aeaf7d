/**
 * Times as strata carries them: nanoseconds since the epoch as bigint (exact,
 * as PAX and the kernel keep them), milliseconds as number for callers of old.
 */
import type { TimeArg } from '../core/snapshotter.js'

const NS_PER_MS = 1_000_000n

/** A TimeArg as nanoseconds: a number is milliseconds (its fraction kept to the nanosecond). */
export function toNs(t: TimeArg): bigint {
  if (typeof t === 'bigint') return t
  const ms = Math.floor(t)
  return BigInt(ms) * NS_PER_MS + BigInt(Math.round((t - ms) * 1e6))
}

/** Nanoseconds as FileStat's float milliseconds. */
export function nsToMs(ns: bigint): number {
  const ms = ns / NS_PER_MS
  const rem = ns % NS_PER_MS
  return Number(ms) + Number(rem) / 1e6
}

/** `sec.nnnnnnnnn` for a time in nanoseconds (touch -d @…, PAX mtime). */
export function nsToDecimal(ns: bigint): string {
  const neg = ns < 0n
  const a = neg ? -ns : ns
  const sec = a / 1_000_000_000n
  const frac = a % 1_000_000_000n
  return `${neg ? '-' : ''}${sec}.${frac.toString().padStart(9, '0')}`
}
