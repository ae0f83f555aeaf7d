/**
 * Exact file times on the host. Node's utimes takes seconds as a double,
 * which holds about a quarter microsecond near today, so a PAX time with
 * nanoseconds would come back a little off. libuv turns the double into a
 * timespec by truncation, which is computed here the same way: a time the
 * double carries exactly (whole seconds, say) takes one syscall; only a time
 * it cannot hold goes through GNU touch, which passes nanoseconds to
 * utimensat(2). That costs a process per such file, and is what keeps a
 * layer's DiffID stable across apply and export.
 */
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { nsToDecimal } from './times.js'

function secondsOf(ns: bigint): number {
  return Number(ns) / 1e9
}

/** Whether libuv's conversion of the double (tv_sec = d, tv_nsec = (d - tv_sec) * 1e9, both truncated) gives back `ns`. */
function exactInDouble(ns: bigint): boolean {
  const d = secondsOf(ns)
  let sec = Math.trunc(d)
  let nsec = Math.trunc((d - sec) * 1e9)
  if (nsec < 0) {
    nsec += 1e9
    sec -= 1
  }
  return BigInt(sec) * 1_000_000_000n + BigInt(nsec) === ns
}

/** Sets atime and mtime of `path` (its final symlink itself unless `follow`). */
export function setHostTimes(path: string, atimeNs: bigint, mtimeNs: bigint, follow: boolean): void {
  if (exactInDouble(atimeNs) && exactInDouble(mtimeNs)) {
    if (follow) fs.utimesSync(path, secondsOf(atimeNs), secondsOf(mtimeNs))
    else fs.lutimesSync(path, secondsOf(atimeNs), secondsOf(mtimeNs))
    return
  }
  const noFollow = follow ? [] : ['-h']
  if (atimeNs === mtimeNs) {
    execFileSync('touch', [...noFollow, '-c', '-d', `@${nsToDecimal(mtimeNs)}`, '--', path])
    return
  }
  execFileSync('touch', [...noFollow, '-c', '-m', '-d', `@${nsToDecimal(mtimeNs)}`, '--', path])
  execFileSync('touch', [...noFollow, '-c', '-a', '-d', `@${nsToDecimal(atimeNs)}`, '--', path])
}
