/**
 * row's FUSE mounts as other processes see them: ordinary tools through a
 * bind of mounts(), errno values, and what commit, remove and close do to
 * a mount still in use.
 */
import { spawn } from 'node:child_process'
import { mkdir, readFile, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Snapshotter } from '../core/snapshotter.js'
import { createRowSnapshotter } from '../drivers/row/index.js'
import { mountAll, unmount } from '../fs/mount.js'
import { requireRoot } from './helpers/index.js'
import { run, tempDir } from './helpers/tools.js'

let dir: string
let sn: Snapshotter | undefined

beforeEach(async () => {
  dir = await tempDir('row-fuse')
})

afterEach(async () => {
  await sn?.close()
  sn = undefined
  await rm(dir, { recursive: true, force: true })
})

const sh = (script: string) => run('sh', ['-c', script])

async function mounted(key: string): Promise<string> {
  const target = join(dir, `t-${key}`)
  await mkdir(target, { recursive: true })
  await mountAll(await sn!.mounts(key), target)
  return target
}

describe('row through its FUSE mount', () => {
  it('shell tools see POSIX behaviour: hard links share an inode, ns times, ENAMETOOLONG, a view is read-only', async (ctx) => {
    requireRoot(ctx, 'FUSE mounts')
    sn = await createRowSnapshotter(join(dir, 'root'))
    await sn.prepare('a')
    const t = await mounted('a')
    const { stdout } = await sh(
      `cd ${t} && echo hi > f && ln f g && stat -c %i f g | uniq | wc -l && touch -d '2020-01-01 00:00:00.123456789' f && stat -c %y g && ` +
        `(touch ${'x'.repeat(256)} 2>&1 || true) && mkdir -p d/e && mv d z && cat z/../f`,
    )
    expect(stdout).toMatch(/^1\n2020-01-01 00:00:00\.123456789 \+0000\n.*File name too long\nhi\n$/s)
    await unmount(t)
    await sn.commit('c', 'a')
    await sn.view('v', 'c')
    const v = await mounted('v')
    expect(await readFile(join(v, 'g'), 'utf8')).toBe('hi\n')
    await expect(sh(`echo x > ${v}/f`)).rejects.toThrow(/Read-only file system/)
    await unmount(v)
  })

  it('commit() while a process keeps a file open on the mount fails with ERR_FAILED_PRECONDITION naming the key, and changes nothing', async (ctx) => {
    requireRoot(ctx, 'FUSE mounts')
    sn = await createRowSnapshotter(join(dir, 'root'))
    await sn.prepare('busy')
    const t = await mounted('busy')
    await sh(`echo data > ${t}/f`)
    await unmount(t)
    const inner = (await sn.mounts('busy'))[0].source
    const holder = spawn('sh', ['-c', `exec 3< ${inner}/f; echo open; exec sleep 30`], { stdio: ['ignore', 'pipe', 'ignore'] })
    await new Promise((r) => holder.stdout!.once('data', r))
    try {
      await expect(sn.commit('c', 'busy')).rejects.toMatchObject({
        code: 'ERR_FAILED_PRECONDITION',
        message: expect.stringContaining('"busy"'),
      })
      expect((await sn.stat('busy')).kind).toBe('active')
    } finally {
      holder.kill('SIGKILL')
      await new Promise((r) => holder.once('close', r))
    }
    await sn.commit('c', 'busy')
    expect((await sn.stat('c')).kind).toBe('committed')
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(inner)
  })

  it('close() unmounts every FUSE mount it served', async (ctx) => {
    requireRoot(ctx, 'FUSE mounts')
    sn = await createRowSnapshotter(join(dir, 'root'))
    const source = (await sn.prepare('a'))[0].source
    await sn.view('v')
    expect(await readFile('/proc/self/mountinfo', 'utf8')).toContain(source)
    await sn.close()
    sn = undefined
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(join(dir, 'root', 'mnt'))
  })
})
