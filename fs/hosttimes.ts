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
import { type ChildProcessByStdio, execFileSync, spawn } from 'node:child_process'
import type { Readable, Writable } from 'node:stream'
import * as fs from 'node:fs'
import { constants as osConstants } from 'node:os'
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

/** utimensat(2)'s number where a perl coprocess can call it directly. */
const UTIMENSAT: Partial<Record<string, number>> = { x64: 280, arm64: 88 }

/**
 * One perl process (perl-base is Essential on Debian) calling utimensat for
 * every exact time DirFs is asked for: a line per request on stdin (path in
 * hex, then seconds and nanoseconds of atime and mtime, then 0 or 1 for
 * following the final symlink), the errno (0 on success) back per line.
 * That is a few microseconds a file where a touch(1) process costs
 * milliseconds. It holds the event loop only while an answer is awaited,
 * and ends when its stdin closes.
 */
const SCRIPT = `$|=1; my $n=shift; while (my $l=<STDIN>) { chomp $l; my ($h,$as,$an,$ms,$mn,$f)=split / /,$l;
my $p=pack("H*",$h); my $ts=pack("q<q<q<q<",$as,$an,$ms,$mn); my $r=syscall($n,-100,$p,$ts,$f?0:0x100);
print(($r==0?0:($!+0)),"\\n") }`

class TimeSetter {
  readonly #child: ChildProcessByStdio<Writable, Readable, null>
  readonly #waiting: Array<(errno: number) => void> = []
  #buffer = ''

  constructor(syscallNo: number) {
    this.#child = spawn('perl', ['-e', SCRIPT, String(syscallNo)], { stdio: ['pipe', 'pipe', 'ignore'] })
    this.#hold(false)
    this.#child.stdout.setEncoding('utf8')
    this.#child.stdout.on('data', (chunk: string) => {
      this.#buffer += chunk
      for (let nl = this.#buffer.indexOf('\n'); nl >= 0; nl = this.#buffer.indexOf('\n')) {
        const errno = Number(this.#buffer.slice(0, nl))
        this.#buffer = this.#buffer.slice(nl + 1)
        this.#waiting.shift()?.(errno)
      }
      if (this.#waiting.length === 0) this.#hold(false)
    })
    const fail = (): void => {
      setter = null
      for (const w of this.#waiting.splice(0)) w(-1)
    }
    this.#child.on('error', fail)
    this.#child.on('exit', fail)
  }

  /** Keeps the event loop alive only while an answer is awaited. */
  #hold(on: boolean): void {
    for (const h of [this.#child, this.#child.stdin, this.#child.stdout] as unknown as Array<{ ref?: () => void; unref?: () => void }>) {
      if (on) h.ref?.()
      else h.unref?.()
    }
  }

  set(path: string, atimeNs: bigint, mtimeNs: bigint, follow: boolean): Promise<number> {
    const split = (ns: bigint): string => {
      const s = ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n)
      return `${s} ${ns - s * 1_000_000_000n}`
    }
    return new Promise((resolve) => {
      this.#waiting.push(resolve)
      this.#hold(true)
      this.#child.stdin.write(`${Buffer.from(path).toString('hex')} ${split(atimeNs)} ${split(mtimeNs)} ${follow ? 1 : 0}\n`)
    })
  }
}

let setter: TimeSetter | null | undefined

/**
 * As setHostTimes, with exact times through the perl coprocess where there is
 * one (touch otherwise). With `neverBlock` no call blocks the event loop: the
 * path may be on a FUSE mount this very process serves.
 */
export async function setHostTimesAsync(
  path: string,
  times: { atimeNs: bigint; mtimeNs: bigint },
  opts: { follow: boolean; neverBlock?: boolean },
): Promise<void> {
  const { atimeNs, mtimeNs } = times
  const { follow } = opts
  if (exactInDouble(atimeNs) && exactInDouble(mtimeNs)) {
    if (!opts.neverBlock) return setHostTimes(path, atimeNs, mtimeNs, follow)
    const set = follow ? fs.promises.utimes : fs.promises.lutimes
    return set(path, secondsOf(atimeNs), secondsOf(mtimeNs))
  }
  const no = UTIMENSAT[process.arch]
  if (setter === undefined && no !== undefined) setter = new TimeSetter(no)
  const errno = setter ? await setter.set(path, atimeNs, mtimeNs, follow) : -1
  if (errno === 0) return
  if (errno > 0) {
    const code = Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0] ?? 'EIO'
    throw Object.assign(new Error(`${code}: utimensat ${path}`), { code, path })
  }
  setHostTimes(path, atimeNs, mtimeNs, follow)
}
