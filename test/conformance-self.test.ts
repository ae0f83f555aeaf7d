/**
 * The suite is shown to fail: wrappers around the native driver that each
 * break one rule must each fail a named case, while native itself passes it.
 */
import { lstat, readdir, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runSuite } from '../conformance/runner.js'
import type { Make } from '../conformance/context.js'
import { DirFs } from '../fs/dirfs.js'
import { FailedPreconditionError, isSnapshotterError } from '../core/errors.js'
import type { Capabilities, Info, Mount, SnapshotFs, SnapshotOptions, Snapshotter, Usage } from '../core/snapshotter.js'
import { createNativeSnapshotter } from '../drivers/native/index.js'

/** Forwards every call; a broken driver overrides the one it breaks. */
class Delegate implements Snapshotter {
  constructor(readonly inner: Snapshotter) {}
  get driver(): string {
    return this.inner.driver
  }
  get capabilities(): Capabilities {
    // Every wrapper here wraps native, which declares its capabilities.
    return this.inner.capabilities!
  }
  stat(key: string): Promise<Info> {
    return this.inner.stat(key)
  }
  update(info: { name: string; labels?: Record<string, string> }, paths?: string[]): Promise<Info> {
    return this.inner.update(info, paths)
  }
  usage(key: string): Promise<Usage> {
    return this.inner.usage(key)
  }
  mounts(key: string): Promise<Mount[]> {
    return this.inner.mounts(key)
  }
  prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.inner.prepare(key, parent, opts)
  }
  view(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
    return this.inner.view(key, parent, opts)
  }
  commit(name: string, key: string, opts?: SnapshotOptions): Promise<void> {
    return this.inner.commit(name, key, opts)
  }
  remove(key: string): Promise<void> {
    return this.inner.remove(key)
  }
  walk(filters?: string[]): AsyncIterable<Info> {
    return this.inner.walk(filters)
  }
  open(key: string): Promise<SnapshotFs> {
    return this.inner.open(key)
  }
  cleanup(): Promise<void> {
    return this.inner.cleanup()
  }
  close(): Promise<void> {
    return this.inner.close()
  }
}

const native: Make = (root) => createNativeSnapshotter(root)

const broken: Array<{ rule: string; failsCase: string; make: Make }> = [
  {
    rule: 'wrong error code: stat() of a missing key says FAILED_PRECONDITION',
    failsCase: 'rules › stat(), usage() and update() of a missing key fail with ERR_NOT_FOUND',
    make: async (root) =>
      new (class extends Delegate {
        override async stat(key: string): Promise<Info> {
          try {
            return await super.stat(key)
          } catch (err) {
            if (isSnapshotterError(err, 'ERR_NOT_FOUND')) throw new FailedPreconditionError(String(err))
            throw err
          }
        }
      })(await native(root)),
  },
  {
    rule: 'writable view: open() of a view writes into its parent',
    failsCase: 'containerd › ViewReadonly [open]',
    make: async (root) =>
      new (class extends Delegate {
        override async open(key: string): Promise<SnapshotFs> {
          if ((await this.stat(key)).kind !== 'view') return super.open(key)
          return new DirFs((await this.mounts(key))[0].source)
        }
      })(await native(root)),
  },
  {
    rule: 'removable parent: remove() takes the children with it',
    failsCase: 'rules › remove() of a snapshot with an active, view or committed child fails with ERR_FAILED_PRECONDITION',
    make: async (root) =>
      new (class extends Delegate {
        override async remove(key: string): Promise<void> {
          for await (const child of this.walk([`parent==${JSON.stringify(key)}`])) await this.remove(child.name)
          return super.remove(key)
        }
      })(await native(root)),
  },
  {
    rule: 'commit leaves the key behind',
    failsCase: 'containerd › Basic [open]',
    make: async (root) =>
      new (class extends Delegate {
        override async commit(name: string, key: string, opts?: SnapshotOptions): Promise<void> {
          await super.commit(name, key, opts)
          await this.view(key, name)
        }
      })(await native(root)),
  },
  {
    rule: 'a used key taken over: prepare() of an existing active key replaces it',
    failsCase: 'rules › prepare() and view() with a key of any kind already in use fail with ERR_ALREADY_EXISTS',
    make: async (root) =>
      new (class extends Delegate {
        override async prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
          const old = await this.stat(key).catch(() => undefined)
          if (old?.kind === 'active') await super.remove(key)
          return super.prepare(key, parent, opts)
        }
      })(await native(root)),
  },
  {
    rule: 'no key syntax check: an empty key names one snapshot',
    failsCase: 'rules › an empty, NUL-holding, over-long or non-string key fails with ERR_INVALID_ARGUMENT in every call',
    make: async (root) =>
      new (class extends Delegate {
        override async prepare(key: string, parent?: string, opts?: SnapshotOptions): Promise<Mount[]> {
          return super.prepare(key === '' ? 'the-empty-key' : key, parent, opts)
        }
      })(await native(root)),
  },
  {
    rule: 'no closed state: stat() after close() answers from a store opened again',
    failsCase: 'lifecycle › after close() every call fails with ERR_UNAVAILABLE and close() twice is fine',
    make: async (root) => {
      let closed = false
      return new (class extends Delegate {
        override async close(): Promise<void> {
          closed = true
          await super.close()
        }
        override async stat(key: string): Promise<Info> {
          if (!closed) return super.stat(key)
          const again = await native(root)
          try {
            return await again.stat(key)
          } finally {
            await again.close()
          }
        }
      })(await native(root))
    },
  },
  {
    rule: 'a file is lost after reopen',
    failsCase: 'lifecycle › records, labels, contents and usage survive close and reopen [open]',
    make: (() => {
      const opened = new Set<string>()
      return async (root: string) => {
        if (opened.has(root)) await forgetNewestFile(join(root, 'native'))
        opened.add(root)
        return native(root)
      }
    })(),
  },
]

async function forgetNewestFile(dir: string): Promise<void> {
  let newest: { path: string; mtime: number } | undefined
  const walk = async (d: string): Promise<void> => {
    for (const name of await readdir(d)) {
      const p = join(d, name)
      const st = await lstat(p).catch(() => undefined)
      if (st?.isDirectory()) await walk(p)
      else if (st?.isFile() && (!newest || st.mtimeMs > newest.mtime)) newest = { path: p, mtime: st.mtimeMs }
    }
  }
  await walk(dir)
  if (newest) await unlink(newest.path)
}

describe('the conformance suite catches broken drivers', () => {
  for (const b of broken) {
    it(`fails "${b.failsCase}" for a driver with ${b.rule}`, async () => {
      const bad = await runSuite(b.make, { filter: b.failsCase })
      expect(bad.results.map((r) => r.id)).toEqual([b.failsCase])
      expect(bad.failed).toBe(1)
      const good = await runSuite(native, { filter: b.failsCase })
      expect(good.passed).toBe(1)
    })
  }
})
