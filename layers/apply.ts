/**
 * `applyLayer(fs, tar)`: applies one OCI layer (plain or gzip tar) to an
 * active snapshot through its SnapshotFs, one entry at a time; no file and no
 * layer is ever held in memory whole.
 *
 * Rules (OCI image-spec layer.md, and Docker and containerd where it is silent):
 * - A directory over a directory changes only its attributes; any other entry
 *   replaces what is at its path (the old entry, a whole tree included, goes).
 * - `.wh.NAME` removes NAME as the lower layers have it; `.wh..wh..opq` hides
 *   every lower entry of its directory wherever it stands in the tar. Both
 *   only touch lower content: what this layer itself wrote stays.
 * - Names resolve inside the snapshot: a `..` that climbs out is an error,
 *   and a symlink met on the way (written by this layer or a lower one) is
 *   followed as under chroot, the way Docker's os.Root and containerd's
 *   RootPath resolve it. The entry itself never writes through a symlink at
 *   its own name: the symlink is replaced. Symlinks are stored verbatim.
 * - A missing parent directory is made (0755, root-owned), as Docker does.
 * - The entry that names the root itself is ignored, as containerd does.
 * - Owner before mode (chown clears setuid/setgid), extended attributes
 *   after both (chown and writes drop security.capability), times last
 *   (to the nanosecond, a symlink's own through lutimes), directory times
 *   after everything else. A hard link shares its target's inode and times.
 * - `SCHILY.xattr.*` records are applied as bytes. `trusted.overlay.*` never
 *   is (it would forge overlayfs metadata), nor a name the snapshot refuses
 *   (EOPNOTSUPP, or `user.*` on a symlink or device): each is counted in
 *   `dropped.xattrs`. A directory over a directory gains the layer's
 *   attributes and keeps its others, as containerd does.
 * - The same path twice is an error, except a directory repeated over itself.
 */
import type { Readable } from 'node:stream'
import tarStream from 'tar-stream'
import { errnoCode, SnapshotterError, unlessMissing } from '../core/errors.js'
import { InvalidLayerError } from './errors.js'
import { openLayerInput, translateInputError, type LayerLimits } from './input.js'
import { makedev } from '../fs/mknod.js'
import type { FileStat, SnapshotFs } from '../core/snapshotter.js'
import { dirname, entryOp, joinPath, paxBytes, type EntryOp, type NodeKind, type TarHeader } from './entry.js'
import { keepRawPax } from './pax.js'

export interface ApplyOptions extends LayerLimits {
  /** Most bytes of PAX records one entry may carry (default 1 MiB). */
  maxHeaderBytes?: number
  /**
   * What a device node the snapshot cannot hold (EPERM, ENOTSUP) does:
   * 'skip' leaves it out and counts it in `dropped.devices`; 'fail' (default)
   * fails the apply.
   */
  devices?: 'fail' | 'skip'
  /** Called with the uncompressed bytes read so far, now and then. */
  onBytes?: (bytes: number) => void
}

export interface ApplyResult {
  /** `sha256:` + hex SHA-256 of the uncompressed tar stream. */
  diffId: string
  /** Bytes of the uncompressed tar stream. */
  size: number
  /** Tar entries read (PAX and long-name headers not counted). */
  entries: number
  /** What the snapshot could not take: xattrs (trusted.overlay.* or refused names) and device nodes. */
  dropped: { xattrs: number; devices: number }
}

/** Errors of a SnapshotFs that mean the layer does not fit what is there. */
const CONFLICTS = new Set(['ENOTDIR', 'EISDIR', 'EEXIST', 'ENOENT', 'ELOOP', 'EPERM', 'EINVAL', 'ENAMETOOLONG', 'EMLINK', 'ENOTEMPTY'])

type NodeOp = Extract<EntryOp, { kind: NodeKind }>
const RUN_AS_ROOT = process.getuid?.() === 0
/** Files up to this size are gathered in memory and written with one writeFile call. */
const WHOLE_FILE = 1 << 20

export async function applyLayer(
  fs: SnapshotFs,
  tar: Readable | AsyncIterable<Buffer> | Iterable<Buffer>,
  opts: ApplyOptions = {},
): Promise<ApplyResult> {
  const input = await openLayerInput(tar, opts)
  const extract = tarStream.extract()
  keepRawPax(extract)
  // The parser's own error says what was wrong; entry streams only say they were destroyed.
  let parseError: Error | undefined
  extract.on('error', (err: Error) => {
    parseError ??= err
  })
  input.tar.on('error', (err) => extract.destroy(err))
  input.tar.pipe(extract)
  const applier = new LayerApplier(fs, opts)
  let entries = 0
  try {
    for await (const entry of extract) {
      entries++
      await applier.apply(entry.header as TarHeader, entry as unknown as AsyncIterable<Buffer>)
      opts.onBytes?.(input.meter.bytes)
    }
    await applier.finish()
    await input.done
  } catch (err) {
    input.destroy(err as Error)
    throw translate(err instanceof SnapshotterError ? err : (parseError ?? err))
  }
  return { diffId: input.meter.digest, size: input.meter.bytes, entries, dropped: applier.dropped }
}

/** tar-stream's plain Errors in the vocabulary of layers; our own errors pass. */
function translate(err: unknown): unknown {
  if (err instanceof SnapshotterError) return err
  const input = translateInputError(err)
  if (input !== err) return input
  const message = (err as Error)?.message ?? String(err)
  if (/exceeds max size/i.test(message)) return new InvalidLayerError('too-large', `a tar header is too large: ${message}`, { cause: err })
  if (/invalid tar header|unexpected end of data|premature close|invalid header/i.test(message)) {
    return new InvalidLayerError('corrupt', `not a valid tar stream: ${message}`, { cause: err })
  }
  return err
}

class LayerApplier {
  readonly dropped = { xattrs: 0, devices: 0 }
  readonly #fs: SnapshotFs
  readonly #opts: ApplyOptions
  /** Paths this layer wrote, and whether each is a directory. */
  readonly #written = new Map<string, boolean>()
  /** Every ancestor of a written path: whiteouts must keep what lies under them. */
  readonly #above = new Set<string>()
  /**
   * Directories this layer created, with their modes: nothing can exist in
   * one unless this layer wrote it, so entries there skip the lookup, and
   * root-owned ones skip the chown unless the directory is setgid.
   */
  readonly #fresh = new Map<string, number>()
  /** Directory mtimes, set last (writing into a directory moves its mtime). */
  readonly #dirTimes = new Map<string, bigint>()
  /** A small file's bytes, read whole from its entry. */
  readonly #gathered = new WeakMap<AsyncIterable<Buffer>, Buffer>()

  constructor(fs: SnapshotFs, opts: ApplyOptions) {
    this.#fs = fs
    this.#opts = opts
  }

  async apply(header: TarHeader, content: AsyncIterable<Buffer>): Promise<void> {
    const max = this.#opts.maxHeaderBytes ?? 2 ** 20
    if (paxBytes(header.pax) > max) {
      throw new InvalidLayerError('too-large', `PAX records are over ${max} bytes`, { entry: header.name.slice(0, 80) })
    }
    const op = entryOp(header)
    try {
      if (op.kind === 'skip' || op.path === '/') return await drain(content)
      if (op.kind === 'whiteout') {
        await drain(content)
        return await this.#removeLower(op.path)
      }
      if (op.kind === 'opaque') {
        await drain(content)
        return await this.#opaque(op.path)
      }
      await this.#node(op, content)
    } catch (err) {
      const code = errnoCode(err)
      if (code !== undefined && CONFLICTS.has(code)) {
        throw new InvalidLayerError('conflict', `cannot apply: ${(err as Error).message}`, { entry: header.name, cause: err })
      }
      throw err
    }
  }

  async #node(op: NodeOp, content: AsyncIterable<Buffer>): Promise<void> {
    const previous = this.#written.get(op.path)
    if (previous !== undefined && !(previous && op.kind === 'dir')) {
      throw new InvalidLayerError('duplicate', 'the path appears twice in the layer', { entry: op.path })
    }
    const parentMode = this.#fresh.get(dirname(op.path))
    const existing = parentMode === undefined || previous !== undefined ? await this.#lstat(op.path) : undefined
    if (existing && !(existing.type === 'dir' && op.kind === 'dir')) {
      await this.#fs.rm(op.path, { recursive: true })
      this.#dirTimes.delete(op.path)
    }
    const merged = existing?.type === 'dir' && op.kind === 'dir'
    if (merged) await this.#attributes(op, existing)
    else if (!(await this.#withParent(op.path, () => this.#create(op, content, parentMode)))) return
    if (op.kind === 'dir' && !merged) this.#fresh.set(op.path, op.mode)
    this.#mark(op.path, op.kind === 'dir')
    await drain(content)
  }

  /** Runs `create`; when the parent is missing, makes it (0755, as Docker) and runs it once more. */
  async #withParent(path: string, create: () => Promise<boolean>): Promise<boolean> {
    try {
      return await create()
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT' || (await this.#lstat(dirname(path)))) throw err
      await this.#fs.mkdir(dirname(path), { recursive: true, mode: 0o755 })
      return create()
    }
  }

  /** Makes the node; false when it was left out (a device the snapshot cannot hold). */
  async #create(op: NodeOp, content: AsyncIterable<Buffer>, parentMode: number | undefined): Promise<boolean> {
    // Made by root in a directory this layer made (not setgid), a root-owned entry is owned right already.
    const owned = RUN_AS_ROOT && op.uid === 0 && op.gid === 0 && parentMode !== undefined && (parentMode & 0o2000) === 0
    const fs = this.#fs
    switch (op.kind) {
      case 'dir':
        await fs.mkdir(op.path, { mode: op.mode })
        break
      case 'file':
        await this.#writeFile(op, content)
        break
      case 'symlink':
        await fs.symlink(op.target!, op.path)
        if (!owned) await fs.chown(op.path, op.uid, op.gid)
        await this.#xattrs(op)
        await fs.lutimes(op.path, op.mtimeNs, op.mtimeNs)
        return true
      case 'link':
        await fs.link(op.target!, op.path)
        return true
      default:
        try {
          await fs.mknod(op.path, op.kind, op.mode, makedev(op.devmajor ?? 0, op.devminor ?? 0))
        } catch (err) {
          const code = errnoCode(err)
          if (op.kind !== 'fifo' && this.#opts.devices === 'skip' && (code === 'EPERM' || code === 'ENOTSUP')) {
            this.dropped.devices++
            return false
          }
          throw err
        }
    }
    await this.#attributes(op, undefined, owned)
    return true
  }

  async #writeFile(op: NodeOp, content: AsyncIterable<Buffer>): Promise<void> {
    if (op.size <= WHOLE_FILE) {
      // One call instead of open, write and close: nothing is at the path (what was there is gone, see #node).
      // Read once: a retry after making a missing parent (#withParent) finds the bytes here.
      let data = this.#gathered.get(content)
      if (data === undefined) {
        const chunks: Buffer[] = []
        for await (const chunk of content) chunks.push(chunk)
        data = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
        this.#gathered.set(content, data)
      }
      await this.#fs.writeFile(op.path, data, { mode: op.mode })
      return
    }
    const fh = await this.#fs.open(op.path, 'wx', op.mode)
    try {
      let pos = 0
      for await (const chunk of content) {
        let off = 0
        while (off < chunk.length) off += await fh.write(chunk, off, chunk.length - off, pos + off)
        pos += chunk.length
      }
    } finally {
      await fh.close()
    }
  }

  /** Owner, then mode (chown clears setuid/setgid), then the time (directories: at the end). */
  async #attributes(op: NodeOp, had?: FileStat, owned = false): Promise<void> {
    const fs = this.#fs
    const chowned = !owned && (!had || had.uid !== op.uid || had.gid !== op.gid)
    if (chowned) await fs.chown(op.path, op.uid, op.gid)
    if ((had && had.mode !== op.mode) || (chowned && (op.mode & 0o7000) !== 0)) await fs.chmod(op.path, op.mode)
    await this.#xattrs(op)
    if (op.kind === 'dir') this.#dirTimes.set(op.path, op.mtimeNs)
    else await fs.lutimes(op.path, op.mtimeNs, op.mtimeNs)
  }

  async #xattrs(op: NodeOp): Promise<void> {
    for (const [name, value] of op.xattrs) {
      if (name.startsWith('trusted.overlay.')) {
        this.dropped.xattrs++
        continue
      }
      try {
        await this.#fs.setxattr(op.path, name, value)
      } catch (err) {
        const code = errnoCode(err)
        const refused = code === 'EOPNOTSUPP' || code === 'ENOTSUP' || (code === 'EPERM' && (name.startsWith('user.') || !RUN_AS_ROOT))
        if (!refused) throw err
        this.dropped.xattrs++
      }
    }
  }

  #mark(path: string, isDir: boolean): void {
    this.#written.set(path, isDir)
    for (let dir = dirname(path); dir !== '/' && !this.#above.has(dir); dir = dirname(dir)) this.#above.add(dir)
  }

  #lstat(path: string): Promise<FileStat | undefined> {
    return unlessMissing(this.#fs.lstat(path))
  }

  /** Removes what the lower layers have at `path`, keeping whatever this layer wrote there. */
  async #removeLower(path: string): Promise<void> {
    if (path === '/') return this.#opaque('/')
    if (!this.#written.has(path) && !this.#above.has(path)) {
      if (await this.#lstat(path)) await this.#fs.rm(path, { recursive: true })
      this.#dirTimes.delete(path)
      return
    }
    const st = await this.#lstat(path)
    if (st?.type === 'dir') await this.#opaque(path)
  }

  async #opaque(dir: string): Promise<void> {
    const st = await this.#lstat(dir)
    if (st?.type !== 'dir') return
    for (const name of await this.#fs.readdir(dir)) await this.#removeLower(joinPath(dir, name))
  }

  async finish(): Promise<void> {
    for (const [path, mtimeNs] of this.#dirTimes) await this.#fs.utimes(path, mtimeNs, mtimeNs)
  }
}

async function drain(content: AsyncIterable<Buffer>): Promise<void> {
  for await (const _ of content) {
    /* discard */
  }
}
