/**
 * The strata contract: what a snapshot is and what a snapshotter promises.
 *
 * Vocabulary (the same as containerd's):
 *
 * - A **key** names an `active` or `view` snapshot; a **name** names a
 *   `committed` one; a **parent** is always a committed snapshot. Keys and
 *   names share one key space: no two snapshots of any kind have the same
 *   string. A key is any non-empty string of at most 4096 bytes without NUL;
 *   `/`, spaces and colons are fine, because no driver ever uses a key as a
 *   file name (drivers see numeric ids, see `core/backend.ts`).
 * - An **active** snapshot is writable. `prepare(key, parent)` makes one whose
 *   files start as the parent's files (or empty without a parent).
 * - A **view** is a read-only active snapshot: `view(key, parent)`. It is never
 *   committed; remove it when done.
 * - `commit(name, key)` turns the active `key` into the committed `name` with
 *   the same parent. `key` stops existing. A committed snapshot never changes
 *   again, and only committed snapshots can be parents.
 * - A snapshot with children (of any kind) cannot be removed, so a parent never
 *   disappears under a child.
 *
 * The lifecycle of an image layer and a container:
 *
 *   prepare('extract-1', undefined) → apply layer 1 → commit('sha256:L1', 'extract-1')
 *   prepare('extract-2', 'sha256:L1') → apply layer 2 → commit('sha256:L2', 'extract-2')
 *   prepare('ctr-1', 'sha256:L2') → mount → run the container → commit or remove
 *
 * Every failure is a typed error from `core/errors.ts` with a stable `code`,
 * and a failed call changes nothing, even when the process dies halfway: the
 * next open removes whatever no record points to.
 *
 * One process holds a store at a time. A second open of the same root (by
 * any path, with any driver) in this process or another fails with
 * ERR_UNAVAILABLE (a StoreInUseError naming the holder from
 * `<root>/holder.json`) and leaves the first open's lock intact;
 * `openSnapshotter(driver, root, { wait: ms })` retries until the holder lets
 * go. A holder that dies, even by SIGKILL, takes its lock with it.
 */

/** What a snapshot is: writable (`active`), read-only (`view`) or frozen (`committed`). */
export type Kind = 'view' | 'active' | 'committed'

export interface Info {
  /** The key (active, view) or name (committed). */
  name: string
  /** The committed parent's name; absent for a snapshot without parent. */
  parent?: string
  kind: Kind
  /** Never holds an empty value: setting a label to '' deletes it. */
  labels: Record<string, string>
  created: Date
  /** Equals `created` on create; moves forward on every `update`. */
  updated: Date
}

/** What a snapshot alone adds on top of its parent. */
export interface Usage {
  /** Bytes allocated on disk (blocks, not apparent size); a hard-linked file counts once. */
  size: number
  inodes: number
}

/** A mount in containerd's shape: what `mount -t type -o options source target` takes. */
export interface Mount {
  type: string
  source: string
  options: string[]
}

export interface SnapshotOptions {
  labels?: Record<string, string>
}

/** The fieldpaths `update` accepts: `labels` or `labels.<key>`. */
export type UpdateFieldpath = 'labels' | `labels.${string}`

export interface Snapshotter {
  /** The driver's registered name (`native`, `overlay`, `row`, or a third party's). */
  readonly driver: string
  /** What the driver can and cannot do; absent means kernel mounts, no other limits. */
  readonly capabilities?: Capabilities

  /** Info of any snapshot. Missing key: ERR_NOT_FOUND. Cost: one metadata read. */
  stat(key: string): Promise<Info>

  /**
   * Changes labels, the only mutable field. With no fieldpaths the label map is
   * replaced by `info.labels` and every other field of `info` is ignored;
   * `labels` replaces the map; `labels.K` sets K, or deletes it when
   * `info.labels` lacks K. Any other fieldpath: ERR_INVALID_ARGUMENT. Missing
   * snapshot: ERR_NOT_FOUND. `updated` moves forward. Cost: one batch.
   */
  update(info: { name: string; labels?: Record<string, string> }, fieldpaths?: string[]): Promise<Info>

  /**
   * What the snapshot alone holds beyond its parent. Committed snapshots
   * answer from the figure stored at commit; active ones may measure, at a
   * cost proportional to what they hold (drivers that keep counters answer in
   * O(1)). Missing key: ERR_NOT_FOUND.
   */
  usage(key: string): Promise<Usage>

  /**
   * The mounts that present an active or view snapshot, as `prepare`/`view`
   * returned them. Committed: ERR_FAILED_PRECONDITION; missing: ERR_NOT_FOUND.
   */
  mounts(key: string): Promise<Mount[]>

  /**
   * Creates active `key` on top of committed `parent` (or empty). Missing
   * parent: ERR_NOT_FOUND; parent not committed: ERR_INVALID_ARGUMENT; key in
   * use: ERR_ALREADY_EXISTS (the parent is checked first). Cost: the driver's
   * (native copies the parent's tree; overlay and row are O(1)).
   */
  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>

  /** As `prepare`, but the snapshot is read-only and can never be committed. */
  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]>

  /**
   * Turns active `key` into committed `name` with the same parent, carrying
   * exactly `opts.labels` and fresh timestamps. Name in use:
   * ERR_ALREADY_EXISTS (checked first); missing key: ERR_NOT_FOUND; a view or
   * a committed snapshot: ERR_FAILED_PRECONDITION. Open handles of `key`
   * should be closed first: the committed snapshot is read-only.
   */
  commit(name: string, key: string, opts?: SnapshotOptions): Promise<void>

  /**
   * Removes a snapshot without children. With children:
   * ERR_FAILED_PRECONDITION ("cannot remove ..."); missing: ERR_NOT_FOUND.
   * The key is free again at once; space is freed at once or by `cleanup()`.
   */
  remove(key: string): Promise<void>

  /**
   * Every snapshot matching any of `filters` (none: all), once each, in no set
   * order. A filter is `selector[,selector...]` (AND); several filters are OR.
   * A selector is `field`, `field==v`, `field!=v` or `field~=regex` with field
   * `name`, `parent`, `kind`, `labels.K` or `labels."K"`. A filter that does
   * not parse: ERR_INVALID_ARGUMENT. `stat` and mutations may run inside the loop.
   */
  walk(filters?: string[]): AsyncIterable<Info>

  /**
   * File access without mounting: read-write for active snapshots, read-only
   * (EROFS) for views and committed ones. Close the handle when done.
   */
  open(key: string): Promise<SnapshotFs>

  /** Frees what removed snapshots and crashed operations left behind. */
  cleanup(): Promise<void>

  /**
   * Releases the store; afterwards every call is ERR_UNAVAILABLE. Twice is
   * fine. To let other processes in during a long wait of your own, close and
   * open again (with `wait`): an open costs LevelDB's recovery and a cleanup
   * pass over the records, milliseconds for hundreds of snapshots.
   */
  close(): Promise<void>
}

/** What a driver declares it can and cannot do; the conformance suite reads it. */
export interface Capabilities {
  /** mounts() are kernel mounts (bind, overlay) that `mount(8)` understands. */
  kernelMounts: boolean
  /**
   * Renaming a directory that comes from a lower layer works through a kernel
   * mount of mounts(). Overlayfs without redirect_dir answers EXDEV.
   */
  renameLowerDirInMount: boolean
  /** The deepest parent chain the driver supports (undefined: no limit). */
  maxDepth?: number
  /**
   * Which extended-attribute namespaces the snapshots keep (absent: all of
   * `user`, `trusted`, `security`). A driver that keeps none says `[]`; its
   * xattr calls answer EOPNOTSUPP and the conformance suite skips their cases.
   */
  xattrs?: XattrNamespace[]
  /**
   * Only root can use the driver's snapshots: its `open()` or its mounts need
   * kernel mounts (overlay mounts overlayfs to open a snapshot with a parent).
   */
  needsRoot?: boolean
  /**
   * The kernel mounts are served by this process (row's FUSE mounts): they
   * work only while the snapshotter stays open, and close() ends them. A
   * runtime keeps the store open while a container runs on such mounts.
   */
  servedMounts?: boolean
}

/**
 * One difference between a snapshot and its parent, as an OCI layer records
 * it. Changes come in path order, a directory before its contents. A deleted
 * path is listed once (its contents are implied). Directories that hold a
 * change are listed as 'modify' so their attributes travel with the layer. An
 * `opaque` directory hides everything its parent had under that path; all its
 * contents follow as 'add'.
 */
export interface Change {
  /** Absolute inside the snapshot, no trailing slash. */
  path: string
  kind: 'add' | 'modify' | 'delete'
  opaque?: boolean
}

/** Optional extension: the changes of an active or committed snapshot in O(changes). */
export interface ChangeLister {
  changes(key: string): AsyncIterable<Change>
}

/** Optional extension: a consistency report between records and data. */
export interface CheckReport {
  /** Snapshot ids whose data exists without a record (cleanup removes them). */
  orphans: string[]
  /** Snapshots whose record exists but whose data is missing or broken. */
  missing: string[]
  /** Free-form findings of the driver's own checks. */
  problems: string[]
}

export interface Checkable {
  check(): Promise<CheckReport>
}

export type FileType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket'

export interface FileStat {
  type: FileType
  /** Permission bits including setuid, setgid and sticky (07777). */
  mode: number
  uid: number
  gid: number
  size: number
  nlink: number
  /** Identifies the file within its snapshot: hard links share it. */
  ino: number
  /** Modification time in milliseconds (a float: `Number(mtimeNs) / 1e6`, for convenience). */
  mtimeMs: number
  /** Modification, access and status-change times in nanoseconds since the epoch, exact. */
  mtimeNs: bigint
  atimeNs: bigint
  ctimeNs: bigint
  /** Device number of char and block devices. */
  rdev?: number
}

export type OpenFlags = 'r' | 'r+' | 'w' | 'wx' | 'a'

/** The extended-attribute namespaces a SnapshotFs serves. */
export type XattrNamespace = 'user' | 'trusted' | 'security'

/** setxattr(2)'s flags: `create` fails with EEXIST if the name exists, `replace` with ENODATA if not. */
export type XattrFlag = 'create' | 'replace'

/** The largest xattr name (bytes, namespace included) and value, as Linux allows. */
export const XATTR_NAME_MAX = 255
export const XATTR_VALUE_MAX = 65536

/**
 * A time for utimes/lutimes: a number is milliseconds since the epoch (as
 * before), a bigint is nanoseconds, exact.
 */
export type TimeArg = number | bigint

/**
 * File access to one snapshot. Paths are absolute inside the snapshot; `..`
 * and symlinks resolve inside its root as under chroot, never outside it.
 * Errors carry Node's POSIX codes (ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY,
 * EROFS, EINVAL, ELOOP, EXDEV, and for xattrs ENODATA, EOPNOTSUPP, ERANGE,
 * E2BIG, EPERM) and name the path inside the snapshot.
 */
export interface SnapshotFs {
  readonly readOnly: boolean
  stat(p: string): Promise<FileStat>
  lstat(p: string): Promise<FileStat>
  readdir(p: string): Promise<string[]>
  readFile(p: string): Promise<Buffer>
  writeFile(p: string, data: Buffer | string, opts?: { mode?: number }): Promise<void>
  open(p: string, flags: OpenFlags, mode?: number): Promise<FileHandle>
  mkdir(p: string, opts?: { mode?: number; recursive?: boolean }): Promise<void>
  rmdir(p: string): Promise<void>
  unlink(p: string): Promise<void>
  rm(p: string, opts?: { recursive?: boolean }): Promise<void>
  rename(from: string, to: string): Promise<void>
  symlink(target: string, p: string): Promise<void>
  readlink(p: string): Promise<string>
  link(existing: string, p: string): Promise<void>
  chmod(p: string, mode: number): Promise<void>
  /** lchown semantics: a symlink itself changes owner, not its target. */
  chown(p: string, uid: number, gid: number): Promise<void>
  /** Follows a final symlink. Times as milliseconds (number) or nanoseconds (bigint). */
  utimes(p: string, atime: TimeArg, mtime: TimeArg): Promise<void>
  /** As utimes, on a symlink itself (lutimes(3)). */
  lutimes(p: string, atime: TimeArg, mtime: TimeArg): Promise<void>
  /**
   * Extended attributes, always of the path itself (the l*xattr(2) family: a
   * symlink's own, never its target's). Names are `user.*`, `trusted.*` or
   * `security.*` (anything else: EOPNOTSUPP), at most 255 bytes (ERANGE);
   * values are bytes, at most 64 KiB (E2BIG). A missing name: ENODATA.
   * `user.*` is allowed only on regular files and directories: on anything
   * else set answers EPERM and get ENODATA, as Linux does. Set and remove on
   * a read-only snapshot: EROFS. A driver's own markers (overlay's
   * `trusted.overlay.*`) are never listed, read or writable (EOPNOTSUPP).
   */
  getxattr(p: string, name: string): Promise<Buffer>
  setxattr(p: string, name: string, value: Buffer, flags?: XattrFlag): Promise<void>
  /** Every name the path carries, sorted (byte order). */
  listxattr(p: string): Promise<string[]>
  removexattr(p: string, name: string): Promise<void>
  truncate(p: string, len: number): Promise<void>
  /** Creates a FIFO, character or block device (type 'fifo' | 'char' | 'block'). */
  mknod(p: string, type: 'fifo' | 'char' | 'block', mode: number, rdev?: number): Promise<void>
  close(): Promise<void>
}

export interface FileHandle {
  read(buf: Buffer, offset: number, length: number, position: number): Promise<number>
  write(buf: Buffer, offset: number, length: number, position: number): Promise<number>
  truncate(len: number): Promise<void>
  /**
   * fsync(2): once it returns, the file's data and attributes, and its name
   * in the directory it was opened in, survive a power cut. A closed
   * handle: EBADF. Cost: the driver's (native and overlay: an fsync of the
   * file and of its directory; row: one synced LevelDB write).
   */
  sync(): Promise<void>
  stat(): Promise<FileStat>
  close(): Promise<void>
}
