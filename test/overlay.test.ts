/**
 * What only the overlay driver promises: Docker's overlay2 layout on disk,
 * containerd's mount shapes (plugins/snapshots/overlay/overlay_test.go),
 * mount options that fit a page at 500 layers, reference-counted open(),
 * stale mounts removed at open, kernel-format whiteouts, changes() and
 * cleanup of what no record points to. Everything runs on real kernel mounts
 * (root only).
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { requireRoot } from './helpers/index.js'
import { fitOptions, isMountPoint, mountAll, MOUNT_DATA_MAX } from '../fs/mount.js'
import { removeTree } from '../fs/removetree.js'
import type { Change, ChangeLister, Checkable, Mount, Snapshotter } from '../core/snapshotter.js'
import { createOverlaySnapshotter } from '../drivers/overlay/index.js'
import { Layout, shortName } from '../drivers/overlay/layout.js'
import { snapshotMounts } from '../drivers/overlay/mountopts.js'
import { opaqueDirs } from '../drivers/overlay/opaque.js'

const MiB = 1 << 20
const hasIndex = existsSync('/sys/module/overlay/parameters/index')

let dir: string | undefined
let root: string
let home: string
let sn: Snapshotter

beforeEach(async (ctx) => {
  dir = undefined
  // Overlay mounts overlayfs for prepare's children and open(): without root every case skips, under CI it fails.
  requireRoot(ctx, 'the overlay driver')
  dir = await mkdtemp(join(tmpdir(), 'strata-overlay-'))
  root = join(dir, 'root')
  home = join(root, 'overlay2')
  sn = await createOverlaySnapshotter(root)
})

afterEach(async () => {
  if (dir === undefined) return // skipped before anything was made
  await sn.close()
  await removeTree(dir)
})

/** The id behind a snapshot, read from its mounts as containerd's tests do (getBasePath). */
function idOf(mounts: Mount[]): string {
  const m = mounts[0]
  const path = m.type === 'bind' ? m.source : m.options.find((o) => o.startsWith('upperdir='))!.slice('upperdir='.length)
  const match = /\/overlay2\/(\d+)\/diff$/.exec(path)
  if (!match) throw new Error(`no snapshot id in ${path}`)
  return match[1]
}

async function layer(key: string, parent: string | undefined, write: Record<string, string> = {}): Promise<string> {
  const id = idOf(await sn.prepare(`${key}-a`, parent))
  if (Object.keys(write).length > 0) {
    const fs = await sn.open(`${key}-a`)
    for (const [p, content] of Object.entries(write)) {
      await fs.mkdir(p.slice(0, p.lastIndexOf('/')) || '/', { recursive: true })
      await fs.writeFile(p, content)
    }
    await fs.close()
  }
  await sn.commit(key, `${key}-a`)
  return id
}

/** How many mounts sit on `target` (stacked mounts would show more than one). */
function mountCount(target: string): number {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.split(' ')[4] === target).length
}

async function changesOf(key: string): Promise<Change[]> {
  const out: Change[] = []
  for await (const c of (sn as unknown as ChangeLister).changes(key)) out.push(c)
  return out
}

describe('overlay driver', () => {
  describe('on-disk layout (Docker overlay2)', () => {
    it('a layer has diff/, link and an l/ symlink; a child has lower, work/ and marks its parent committed', async () => {
      const base = await layer('base', undefined, { '/etc/os': 'strata' })
      const child = idOf(await sn.prepare('child', 'base'))
      await sn.view('peek', 'base')
      // A view of one layer mounts its parent's diff, so its own id is the directory left over.
      const [viewId] = execFileSync('ls', [home])
        .toString()
        .trim()
        .split('\n')
        .filter((n) => ![base, child, 'l'].includes(n))

      expect(readFileSync(join(home, base, 'link'), 'utf8')).toBe(shortName(base))
      expect(readlinkSync(join(home, 'l', shortName(base)))).toBe(`../${base}/diff`)
      expect(readFileSync(join(home, base, 'diff', 'etc', 'os'), 'utf8')).toBe('strata')
      expect(existsSync(join(home, base, 'lower')), 'a base layer has no lower file').toBe(false)
      expect(existsSync(join(home, base, 'committed')), 'a parent is marked once it has a child').toBe(true)
      expect(statSync(join(home, base, 'diff')).mode & 0o7777).toBe(0o755)

      expect(readFileSync(join(home, child, 'lower'), 'utf8')).toBe(`l/${shortName(base)}`)
      expect(statSync(join(home, child, 'work')).isDirectory()).toBe(true)
      expect(existsSync(join(home, child, 'merged')), 'merged/ exists only while open() holds it').toBe(false)
      expect(existsSync(join(home, viewId, 'work')), 'a view never writes, so it has no work/').toBe(false)
      expect(readlinkSync(join(home, 'l', shortName(viewId)))).toBe(`../${viewId}/diff`)
    })

    it('lower lists every ancestor through l/, nearest first', async () => {
      const a = await layer('a', undefined)
      const b = await layer('b', 'a')
      const c = await layer('c', 'b')
      const top = idOf(await sn.prepare('top', 'c'))
      expect(readFileSync(join(home, top, 'lower'), 'utf8')).toBe([c, b, a].map((id) => `l/${shortName(id)}`).join(':'))
    })

    it("a new layer takes the owner and mode of its parent's root", async () => {
      await sn.prepare('r-a')
      const fs = await sn.open('r-a')
      await fs.chown('/', 1000, 1000)
      await fs.chmod('/', 0o750)
      await fs.close()
      await sn.commit('r', 'r-a')
      await sn.prepare('r-child', 'r')
      const child = await sn.open('r-child')
      const st = await child.stat('/')
      await child.close()
      expect([st.uid, st.gid, st.mode]).toEqual([1000, 1000, 0o750])
    })
  })

  describe("mounts in containerd's shape", () => {
    const pinned = () => (hasIndex ? ['index=off'] : [])

    it('an active snapshot without parent is a rw rbind of its diff (testOverlayMounts)', async () => {
      const [m, ...rest] = await sn.prepare('/tmp/test')
      expect(rest).toEqual([])
      expect(m.type).toBe('bind')
      expect(m.source).toBe(join(home, idOf([m]), 'diff'))
      expect(m.options).toEqual(['rw', 'rbind'])
    })

    it('an active snapshot with a parent is an overlay with workdir, upperdir, lowerdir and index=off (testOverlayOverlayMount)', async () => {
      const base = await layer('base', undefined)
      const [m] = await sn.prepare('/tmp/layer2', 'base')
      const id = idOf([m])
      expect(m.type).toBe('overlay')
      expect(m.source).toBe('overlay')
      expect(m.options.slice(0, 3)).toEqual([
        `workdir=${join(home, id, 'work')}`,
        `upperdir=${join(home, id, 'diff')}`,
        `lowerdir=${join(home, 'l', shortName(base))}`,
      ])
      for (const o of pinned()) expect(m.options).toContain(o)
    })

    it("a view of one layer binds the parent's diff read-only; of two, an overlay with lowerdir only (testOverlayView)", async () => {
      const base = await layer('base', undefined, { '/foo': 'hi' })
      const top = await layer('top', 'base', { '/foo': 'hi, again' })
      const [one] = await sn.view('/tmp/view1', 'base')
      expect(one).toEqual({ type: 'bind', source: join(home, base, 'diff'), options: ['ro', 'rbind'] })
      const [two] = await sn.view('/tmp/view2', 'top')
      expect(two.type).toBe('overlay')
      expect(two.options[0]).toBe(`lowerdir=${join(home, 'l', shortName(top))}:${join(home, 'l', shortName(base))}`)
      expect(two.options.some((o) => /^(upperdir|workdir)=/.test(o))).toBe(false)
      for (const o of pinned()) expect(two.options).toContain(o)
      const [noParent] = await sn.view('/tmp/view0')
      expect(noParent.options).toEqual(['ro', 'rbind'])
    })

    it('the overlay mounts of prepare() and view() work with the kernel (testOverlayOverlayRead)', async () => {
      await layer('base', undefined, { '/foo': 'hi' })
      const target = join(dir!, 'dest')
      await mountAll(await sn.prepare('/tmp/layer2', 'base'), target)
      try {
        expect(await readFile(join(target, 'foo'), 'utf8')).toBe('hi')
        await writeFile(join(target, 'bar'), 'new')
      } finally {
        execFileSync('umount', [target])
      }
      await sn.commit('l2', '/tmp/layer2')
      await mountAll(await sn.view('v', 'l2'), target)
      try {
        expect(await readFile(join(target, 'bar'), 'utf8')).toBe('new')
        await expect(writeFile(join(target, 'baz'), 'x')).rejects.toMatchObject({ code: 'EROFS' })
      } finally {
        execFileSync('umount', [target])
      }
    })
  })

  describe('mount options at 500 layers', () => {
    const ids = (from: number) => Array.from({ length: 500 }, (_, i) => String(from + 499 - i))
    const length = (layout: Layout, parentIds: string[]) => {
      const [m] = snapshotMounts(layout, { id: String(Number(parentIds[0]) + 1), kind: 'active', parentIds }, [
        'index=off',
        'redirect_dir=off',
        'metacopy=off',
      ])
      expect(m.options.join(',').length, 'absolute paths are far over a page').toBeGreaterThan(MOUNT_DATA_MAX)
      const fitted = fitOptions(m)
      expect(fitted.cwd).toBe(layout.home)
      return fitted.options.join(',').length
    }
    const layout = new Layout('/tmp/strata-case-AbCdEf/root')

    it('fit one page relative to the overlay home while short names have at most 5 characters (ids below 36^5)', () => {
      const figures = {
        '1-500': length(layout, ids(1)),
        '46156-46655': length(layout, ids(46156)),
        '1679116-1679615': length(layout, ids(1679116)),
        '60465676-60466175': length(layout, ids(36 ** 5 - 500)),
      }
      for (const n of Object.values(figures)) expect(n).toBeLessThanOrEqual(MOUNT_DATA_MAX)
      console.log(`overlay option string at 500 layers, by id range: ${JSON.stringify(figures)} (limit ${MOUNT_DATA_MAX})`)
    })

    it('no longer fit once short names reach 6 characters, as layout.ts says', () => {
      expect(length(layout, ids(36 ** 5))).toBeGreaterThan(MOUNT_DATA_MAX)
    })

    it('a committed layer with 500 parents opens read-only with its diff as the upper of a read-only mount', async () => {
      let parent: string | undefined
      let top = ''
      for (let i = 0; i <= 500; i++) {
        top = await layer(`d${i}`, parent, i === 0 || i === 500 ? { [`/layer-${i}`]: String(i) } : {})
        parent = `d${i}`
      }
      const before = execFileSync('find', [join(home, top, 'diff'), '-printf', '%p %s %T@ %C@\n']).toString()
      const fs = await sn.open('d500')
      try {
        expect(fs.readOnly).toBe(true)
        expect((await fs.readFile('/layer-0')).toString()).toBe('0')
        expect((await fs.readFile('/layer-500')).toString()).toBe('500')
        await expect(fs.writeFile('/x', 'x')).rejects.toMatchObject({ code: 'EROFS' })
      } finally {
        await fs.close()
      }
      const after = execFileSync('find', [join(home, top, 'diff'), '-printf', '%p %s %T@ %C@\n']).toString()
      expect(after, 'the mount left the committed diff/ as it was').toBe(before)
    }, 120_000)
  })

  describe('open()', () => {
    it('two opens share one mount on merged/; the last close unmounts it and removes merged/', async () => {
      await layer('base', undefined, { '/f': 'base' })
      const id = idOf(await sn.prepare('c', 'base'))
      const merged = join(home, id, 'merged')
      const a = await sn.open('c')
      const b = await sn.open('c')
      expect(mountCount(merged)).toBe(1)
      await a.writeFile('/g', 'through a')
      await a.close()
      expect(await isMountPoint(merged)).toBe(true)
      expect((await b.readFile('/g')).toString()).toBe('through a')
      await b.close()
      expect(await isMountPoint(merged)).toBe(false)
      expect(existsSync(merged)).toBe(false)
    })

    it('commit() closes open handles and unmounts; the committed layer opens read-only from its diff and lowers', async () => {
      await layer('base', undefined, { '/f': 'base' })
      const id = idOf(await sn.prepare('c', 'base'))
      const fs = await sn.open('c')
      await fs.writeFile('/g', 'child')
      await sn.commit('c-done', 'c')
      expect(await isMountPoint(join(home, id, 'merged'))).toBe(false)
      await expect(fs.readFile('/g')).rejects.toMatchObject({ code: 'EBADF' })
      const ro = await sn.open('c-done')
      expect(ro.readOnly).toBe(true)
      expect((await ro.readFile('/f')).toString()).toBe('base')
      expect((await ro.readFile('/g')).toString()).toBe('child')
      await expect(ro.writeFile('/h', 'x')).rejects.toMatchObject({ code: 'EROFS' })
      await ro.close()
    })

    it('rename of a directory from a lower layer falls back to copy and remove (the kernel answers EXDEV)', async () => {
      await layer('base', undefined, { '/d/a': 'A', '/d/sub/b': 'B' })
      const id = idOf(await sn.prepare('c', 'base'))
      const fs = await sn.open('c')
      await fs.rename('/d', '/e')
      expect((await fs.readFile('/e/sub/b')).toString()).toBe('B')
      await expect(fs.stat('/d')).rejects.toMatchObject({ code: 'ENOENT' })
      await fs.close()
      const d = lstatSync(join(home, id, 'diff', 'd'))
      expect(d.isCharacterDevice() && d.rdev === 0, 'the old name is a whiteout').toBe(true)
    })

    it('opening the store unmounts the merged/ mounts of a process killed while it held them', async () => {
      await layer('base', undefined, { '/f': 'base' })
      const id = idOf(await sn.prepare('c', 'base'))
      await sn.close()
      const merged = join(home, id, 'merged')
      const entry = fileURLToPath(new URL('../dist/index.js', import.meta.url))
      const script = `const { openSnapshotter } = await import(${JSON.stringify(entry)});
        const sn = await openSnapshotter('overlay', ${JSON.stringify(root)});
        await sn.open('c'); console.log('ready'); setInterval(() => {}, 1000)`
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve())
        child.on('exit', (code) => reject(new Error(`the child exited with ${code} before it held a mount`)))
      })
      child.kill('SIGKILL')
      await new Promise((r) => child.once('exit', r))
      expect(await isMountPoint(merged), 'the dead process left its mount').toBe(true)
      sn = await createOverlaySnapshotter(root)
      expect(await isMountPoint(merged)).toBe(false)
      expect(existsSync(merged)).toBe(false)
      const fs = await sn.open('c')
      expect((await fs.readFile('/f')).toString()).toBe('base')
      await fs.close()
    })
  })

  describe("whiteouts in the kernel's format", () => {
    it('deleting a lower file leaves a 0/0 character device; rm -r and mkdir of a lower directory an opaque one', async () => {
      await layer('base', undefined, { '/f': 'x', '/d/old': 'y' })
      const id = idOf(await sn.prepare('c', 'base'))
      const fs = await sn.open('c')
      await fs.unlink('/f')
      await fs.rm('/d', { recursive: true })
      await fs.mkdir('/d')
      await fs.writeFile('/d/new', 'z')
      expect(await fs.readdir('/d')).toEqual(['new'])
      await fs.close()
      const wh = lstatSync(join(home, id, 'diff', 'f'))
      expect(wh.isCharacterDevice()).toBe(true)
      expect(wh.rdev).toBe(0)
      const opaque = execFileSync('getfattr', [
        '--absolute-names',
        '--only-values',
        '-n',
        'trusted.overlay.opaque',
        join(home, id, 'diff', 'd'),
      ]).toString()
      expect(opaque).toBe('y')
      expect(readFileSync(join(home, id, 'diff', 'd', 'new'), 'utf8')).toBe('z')
    })

    it('opaqueDirs finds every directory marked opaque, odd names included, and nothing else', async (ctx) => {
      requireRoot(ctx, 'trusted.* xattrs')
      const dir = join(home, 'opaque-walk')
      for (const d of ['nl\nx', 'back\\slash', 'ünï', 'no', 'ünï/deep']) mkdirSync(join(dir, d), { recursive: true })
      for (const d of ['', 'nl\nx', 'back\\slash', 'ünï/deep'])
        execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', join(dir, d)])
      execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'n', join(dir, 'no')])
      expect([...(await opaqueDirs(dir))].sort()).toEqual(['', 'back\\slash', 'nl\nx', 'ünï/deep'])
    })
  })

  describe('changes()', () => {
    it('lists adds, modifies, deletes and opaque directories of a small chain in path order', async () => {
      await layer('base', undefined, { '/a/x': '1', '/b/y': '2', '/c': '3', '/keep/old': '4', '/same/s': '5' })
      await sn.prepare('c', 'base')
      const fs = await sn.open('c')
      await fs.writeFile('/a/x', 'changed')
      await fs.unlink('/b/y')
      await fs.chmod('/c', 0o600)
      await fs.rm('/keep', { recursive: true })
      await fs.mkdir('/keep')
      await fs.writeFile('/keep/n', 'new')
      await fs.mkdir('/new/deep', { recursive: true })
      await fs.writeFile('/new/deep/n', 'new')
      await fs.close()
      const expected: Change[] = [
        { path: '/a', kind: 'modify' },
        { path: '/a/x', kind: 'modify' },
        { path: '/b', kind: 'modify' },
        { path: '/b/y', kind: 'delete' },
        { path: '/c', kind: 'modify' },
        { path: '/keep', kind: 'modify', opaque: true },
        { path: '/keep/n', kind: 'add' },
        { path: '/new', kind: 'add' },
        { path: '/new/deep', kind: 'add' },
        { path: '/new/deep/n', kind: 'add' },
      ]
      expect(await changesOf('c')).toEqual(expected)
      await sn.commit('c-done', 'c')
      expect(await changesOf('c-done'), 'a committed snapshot lists the same').toEqual(expected)
    })

    it('looks paths up through every ancestor, and a base layer is all adds', async () => {
      await layer('g', undefined, { '/g/x': 'g' })
      expect(await changesOf('g')).toEqual([
        { path: '/g', kind: 'add' },
        { path: '/g/x', kind: 'add' },
      ])
      await layer('p', 'g', { '/p': 'p' })
      await sn.prepare('c', 'p')
      const fs = await sn.open('c')
      await fs.unlink('/g/x')
      await fs.writeFile('/p', 'again')
      await fs.close()
      expect(await changesOf('c')).toEqual([
        { path: '/g', kind: 'modify' },
        { path: '/g/x', kind: 'delete' },
        { path: '/p', kind: 'modify' },
      ])
    })

    it('does not follow a lower symlink when a layer puts a directory in its place', async () => {
      await layer('base', undefined, { '/etc/passwd': 'root' })
      await sn.prepare('s-a', 'base')
      let fs = await sn.open('s-a')
      await fs.symlink('/etc', '/link')
      await fs.close()
      await sn.commit('s', 's-a')
      await sn.prepare('c', 's')
      fs = await sn.open('c')
      await fs.unlink('/link')
      await fs.mkdir('/link')
      await fs.writeFile('/link/passwd', 'mine')
      await fs.close()
      expect(await changesOf('c')).toEqual([
        { path: '/link', kind: 'modify', opaque: true },
        { path: '/link/passwd', kind: 'add' },
      ])
    })

    it('an opaque root deletes what the parent had and replaces its directories', async () => {
      await layer('base', undefined, { '/gone': '1', '/d/x': '2' })
      const id = idOf(await sn.prepare('c', 'base'))
      const diff = join(home, id, 'diff')
      await mkdir(join(diff, 'd'))
      await writeFile(join(diff, 'd', 'y'), '3')
      execFileSync('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', diff])
      expect(await changesOf('c')).toEqual([
        { path: '/d', kind: 'modify', opaque: true },
        { path: '/d/y', kind: 'add' },
        { path: '/gone', kind: 'delete' },
      ])
    })
  })

  describe('usage', () => {
    it('a one-byte write into a lower file copies the whole file up', async () => {
      await sn.prepare('big-a')
      const fs = await sn.open('big-a')
      await fs.writeFile('/big', Buffer.alloc(4 * MiB, 1))
      await fs.close()
      await sn.commit('big', 'big-a')
      await sn.prepare('c', 'big')
      const before = await sn.usage('c')
      const c = await sn.open('c')
      const fh = await c.open('/big', 'r+')
      await fh.write(Buffer.from('x'), 0, 1, 0)
      await fh.close()
      await c.close()
      const after = await sn.usage('c')
      expect(after.size - before.size).toBeGreaterThanOrEqual(4 * MiB)
      expect(after.inodes - before.inodes).toBe(1)
    })
  })

  describe('cleanup', () => {
    it('removes directories and l/ links no record points to, at open and in cleanup()', async () => {
      const live = await layer('live', undefined, { '/f': 'x' })
      await sn.close()
      await mkdir(join(home, '999999', 'diff'), { recursive: true })
      await symlink('../999999/diff', join(home, 'l', shortName('999999')))
      await symlink('../123456/diff', join(home, 'l', 'dangling'))
      await symlink('/etc', join(home, 'l', 'foreign'))
      await symlink(`../${live}/diff`, join(home, 'l', 'alias'))
      await writeFile(join(home, 'stray'), '')
      sn = await createOverlaySnapshotter(root)
      expect(existsSync(join(home, '999999'))).toBe(false)
      expect(existsSync(join(home, 'stray'))).toBe(false)
      expect(
        execFileSync('ls', [join(home, 'l')])
          .toString()
          .trim()
          .split('\n'),
      ).toEqual([shortName(live)])
      expect(await (sn as unknown as Checkable).check()).toEqual({ orphans: [], missing: [], problems: [] })
      await sn.remove('live')
      await sn.cleanup()
      expect(execFileSync('ls', ['-A', home]).toString().trim()).toBe('l')
      expect(
        execFileSync('ls', ['-A', join(home, 'l')])
          .toString()
          .trim(),
      ).toBe('')
    })

    it('check() reports a record whose diff/ or l/ link is gone', async () => {
      const id = await layer('x', undefined)
      await rm(join(home, 'l', shortName(id)))
      const report = await (sn as unknown as Checkable).check()
      expect(report.missing).toEqual(['x'])
      expect(report.problems[0]).toMatch(/l\//)
    })
  })

  it('a root whose path would split the mount options is refused with ERR_INVALID_ARGUMENT', async () => {
    await expect(createOverlaySnapshotter(join(dir!, 'a,b'))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    await expect(createOverlaySnapshotter(join(dir!, 'a:b'))).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
  })
})
