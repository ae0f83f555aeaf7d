/**
 * What keeps a store to one process, beyond LevelDB's LOCK file.
 *
 * LevelDB locks `<root>/meta/LOCK` with a POSIX record lock, and those belong
 * to the process, not to a descriptor: closing *any* descriptor of that file
 * in the process drops the lock. LevelDB's own refusal of a second open in
 * the same process opens the file, sees it is taken, and closes it — which
 * silently unlocks the first open. So a second open here must be refused
 * before anything touches the store's files: a registry of the roots this
 * process holds, keyed by the root directory's device and inode (a symlink
 * or another spelling of the path is the same root).
 *
 * Beside the lock, `<root>/holder.json` records who holds the store (pid,
 * command line, start time, what kind of process), so a refused or waiting
 * opener can say who it waits for. The record is only ever read to describe
 * the holder, never trusted as the lock: a SIGKILLed holder's LevelDB lock
 * goes with its process, and its stale record (its pid dead or reused) is
 * ignored by readers and replaced by the next holder.
 */
import { readFileSync } from 'node:fs'
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { InvalidArgumentError, UnavailableError } from './errors.js'

/** The holder record's file name in a store's root. */
export const HOLDER_FILE = 'holder.json'

/** Who holds a store: what `<root>/holder.json` says. */
export interface Holder {
  pid: number
  /** The holder's command line (`process.argv` joined by spaces). */
  command: string
  /** What kind of process holds it: `library` (the default), `cli`, `serve`, or what a program declares. */
  kind: string
  /** Where a serving holder (`kind: 'serve'`) answers requests for this store: its socket path. */
  socket?: string
  /** When the holder process started (ISO 8601). */
  started: string
  /** When it took the store (ISO 8601). */
  since: string
  /** The process's start time in clock ticks since boot (/proc/<pid>/stat), to tell a reused pid; Linux only. */
  startTicks?: string
}

/** A store some process (maybe this one) holds: ERR_UNAVAILABLE, with the holder when it left a record. */
export class StoreInUseError extends UnavailableError {
  readonly root: string
  /** Who holds it, when the holder has written its record (undefined in the moment after it took the lock). */
  readonly holder: Holder | undefined
  constructor(root: string, holder: Holder | undefined, opts: { waitedMs?: number; cause?: unknown } = {}) {
    const waited = opts.waitedMs === undefined ? '' : ` (waited ${formatMs(opts.waitedMs)})`
    super(`store ${root} is in use by ${describeHolder(holder)}${waited}`, opts.cause === undefined ? {} : { cause: opts.cause })
    this.root = root
    this.holder = holder
  }
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`
}

/** "pid 123 (strata import x.tar) since 10:01:02", "this process", or "another process". */
export function describeHolder(holder: Holder | undefined): string {
  if (holder === undefined) return 'another process (it has left no record yet)'
  const self = holder.pid === process.pid ? 'this process, ' : ''
  const socket = holder.socket === undefined ? '' : `, serving ${holder.socket}`
  return `${self}pid ${holder.pid} (${holder.kind}: ${holder.command}${socket}) since ${holder.since}`
}

// The roots this process holds, shared by every copy of this module loaded in the realm.
const HELD = Symbol.for('strata.core.storelock.held')
type Held = Map<string, string>
const realm = globalThis as Record<symbol, Held | undefined>
if (realm[HELD] === undefined) realm[HELD] = new Map()
const held: Held = realm[HELD]

async function rootKey(root: string): Promise<string> {
  const st = await stat(root, { bigint: true })
  return `${st.dev}:${st.ino}`
}

/**
 * Marks `root` (an existing directory) as held by this process, or refuses
 * with StoreInUseError if this process holds it already; the returned
 * function gives it up. Touches no file of the store.
 */
export async function claimRoot(root: string): Promise<() => void> {
  const key = await rootKey(root)
  if (held.has(key)) {
    const holder = await readHolder(root)
    throw new StoreInUseError(root, holder ?? ownRecord(new Date()), {
      cause: new Error(`already open in this process as ${held.get(key)}`),
    })
  }
  held.set(key, root)
  let released = false
  return () => {
    if (released) return
    released = true
    held.delete(key)
  }
}

interface Identity {
  kind: string
  socket?: string
}

let identity: Identity = { kind: 'library' }

/**
 * Says what this process is, for the holder record of every store it opens
 * from now on: a daemon declares `{ kind: 'serve', socket }` so a command
 * refused by its store knows where to ask instead.
 */
export function setHolderInfo(info: Identity): void {
  if (typeof info !== 'object' || info === null || typeof info.kind !== 'string' || !/^[a-z][a-z0-9-]*$/.test(info.kind)) {
    throw new InvalidArgumentError('holder kind must be a lower-case word')
  }
  if (info.socket !== undefined && (typeof info.socket !== 'string' || info.socket.length === 0)) {
    throw new InvalidArgumentError('holder socket must be a non-empty path')
  }
  identity = info.socket === undefined ? { kind: info.kind } : { kind: info.kind, socket: info.socket }
}

/** Field 22 of /proc/<pid>/stat (after the parenthesised command, which may hold spaces). */
function startTicksOf(pid: number): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

const ownStartTicks = startTicksOf(process.pid)
const ownStarted = new Date(Date.now() - process.uptime() * 1000).toISOString()

function ownRecord(since: Date): Holder {
  const h: Holder = {
    pid: process.pid,
    command: process.argv.join(' '),
    kind: identity.kind,
    started: ownStarted,
    since: since.toISOString(),
  }
  if (identity.socket !== undefined) h.socket = identity.socket
  if (ownStartTicks !== undefined) h.startTicks = ownStartTicks
  return h
}

/** Writes this process's record; called while it holds the store's lock, so nobody else writes it. */
export async function writeHolder(root: string): Promise<void> {
  const tmp = join(root, `${HOLDER_FILE}.${process.pid}.tmp`)
  await writeFile(tmp, `${JSON.stringify(ownRecord(new Date()))}\n`, { mode: 0o644 })
  await rename(tmp, join(root, HOLDER_FILE))
}

/** Removes the record; called before the lock is given up, so it is never another holder's. */
export async function removeHolder(root: string): Promise<void> {
  await rm(join(root, HOLDER_FILE), { force: true })
}

function isAlive(h: Holder): boolean {
  try {
    process.kill(h.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  if (h.startTicks === undefined) return true
  const now = startTicksOf(h.pid)
  return now === undefined || now === h.startTicks
}

/** The record of a live holder; undefined when there is none, it is unreadable, or its process is gone. */
export async function readHolder(root: string): Promise<Holder | undefined> {
  let h: Partial<Holder>
  try {
    h = JSON.parse(await readFile(join(root, HOLDER_FILE), 'utf8')) as Partial<Holder>
  } catch {
    return undefined
  }
  if (typeof h.pid !== 'number' || !Number.isInteger(h.pid) || h.pid <= 0) return undefined
  const holder: Holder = {
    pid: h.pid,
    command: typeof h.command === 'string' ? h.command : '?',
    kind: typeof h.kind === 'string' ? h.kind : '?',
    started: typeof h.started === 'string' ? h.started : '?',
    since: typeof h.since === 'string' ? h.since : '?',
  }
  if (typeof h.socket === 'string') holder.socket = h.socket
  if (typeof h.startTicks === 'string') holder.startTicks = h.startTicks
  return isAlive(holder) ? holder : undefined
}
