/**
 * Removing images and reclaiming interrupted work: rmi frees the layers no
 * other image or snapshot needs, rm refuses a layer an image uses, check
 * reports an image that lost a layer, and a work-in-progress snapshot whose
 * builder was SIGKILLed is listed by check and removed by cleanup.
 */
import { spawn } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { resolve } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { openSnapshotter } from '../core/registry.js'
import {
  WIP_LABEL,
  abandonedWork,
  assertNoImageUses,
  buildSnapshot,
  chainIds,
  checkImages,
  imagesOf,
  reclaimAbandoned,
  removeImage,
  sha256Digest,
  type Snapshotter,
} from '../index.js'
import { processStart } from '../layers/owner.js'
import { strataCli } from './helpers/cli.js'
import { tempDir } from './helpers/tools.js'

const diff = (n: string) => sha256Digest(`layer ${n}`)
let root: string
let sn: Snapshotter

/** Commits the chain of `diffIds` (reusing layers already there) and records image `name` on it. */
async function fakeImage(name: string, diffIds: string[]): Promise<string[]> {
  const ids = chainIds(diffIds)
  for (const [i, id] of ids.entries()) {
    if ((await sn.walk([`name==${id}`]).next()).done === false) continue
    await buildSnapshot(sn, { purpose: 'unpack', parent: ids[i - 1], name: id }, async (fs) => fs.writeFile(`/f${i}`, Buffer.from(name)))
  }
  await imagesOf(sn).put({ name, configDigest: sha256Digest(name), diffIds, chainId: ids.at(-1), created: Date.now() })
  return ids
}

async function names(): Promise<string[]> {
  const out: string[] = []
  for await (const i of sn.walk()) out.push(i.name)
  return out.sort()
}

beforeEach(async () => {
  root = await tempDir('rmi')
  sn = await openSnapshotter('native', root)
})
afterEach(async () => {
  await sn.close()
  await rm(root, { recursive: true, force: true })
})

describe('removeImage', () => {
  it('removes the image and its layers, keeps a layer another image shares', async () => {
    const a = await fakeImage('a', [diff('base'), diff('a')])
    const b = await fakeImage('b', [diff('base'), diff('b')])
    const r = await removeImage(sn, 'a')
    expect(r.removed).toEqual([a[1]])
    expect(await names()).toEqual([...b].sort())
    expect((await removeImage(sn, 'b')).removed).toEqual([b[1], b[0]])
    expect(await names()).toEqual([])
    expect(await imagesOf(sn).list()).toEqual([])
  })

  it('keeps a layer a container sits on, and fails with ERR_NOT_FOUND for an unknown image', async () => {
    const a = await fakeImage('a', [diff('base'), diff('a')])
    await sn.prepare('ctr', a[1])
    expect((await removeImage(sn, 'a')).removed).toEqual([])
    expect(await names()).toEqual([...a, 'ctr'].sort())
    await expect(removeImage(sn, 'a')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' })
  })

  it('assertNoImageUses refuses a layer an image uses with ERR_FAILED_PRECONDITION naming the image', async () => {
    const a = await fakeImage('busybox:1.0', [diff('base')])
    await expect(assertNoImageUses(sn, a[0])).rejects.toMatchObject({
      code: 'ERR_FAILED_PRECONDITION',
      message: expect.stringContaining('"busybox:1.0"'),
    })
  })

  it('checkImages names an image whose layer is missing, with the ChainID and DiffID', async () => {
    const a = await fakeImage('a', [diff('base'), diff('a')])
    expect(await checkImages(sn)).toEqual([])
    await sn.remove(a[1])
    const problems = await checkImages(sn)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain('"a" layer 2 of 2')
    expect(problems[0]).toContain(a[1])
    expect(problems[0]).toContain(diff('a'))
  })
})

describe('strata rmi, rm and check', () => {
  it('rm refuses a layer an image uses, check reports the missing layer, rmi frees the rest', async () => {
    const a = await fakeImage('a', [diff('base'), diff('a')])
    await sn.close()
    const cli = (...args: string[]) => strataCli(['--root', root, '--driver', 'native', ...args])
    const refused = await cli('rm', a[1])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^strata rm: ERR_FAILED_PRECONDITION: .*"a".*strata rmi/)
    expect((await cli('check')).stdout).toBe('ok\n')
    sn = await openSnapshotter('native', root)
    await sn.remove(a[1]) // the library's remove does not know images
    await sn.close()
    const check = await cli('check')
    expect(check.code).toBe(1)
    expect(check.stdout).toContain(`missing: image "a" layer 2 of 2: ${a[1]}`)
    const rmi = await cli('rmi', 'a')
    expect(rmi.stdout).toBe('removed a (1 layers freed)\n')
    expect((await cli('ls')).stdout.trim()).toBe('KEY  PARENT  KIND')
    expect((await cli('check')).stdout).toBe('ok\n')
    sn = await openSnapshotter('native', root)
  })
})

describe('work a dead process left', () => {
  it('a work-in-progress snapshot of a SIGKILLed builder is listed by check and removed by cleanup', async () => {
    await sn.close()
    const script = `
      import { openSnapshotter, buildSnapshot } from ${JSON.stringify(resolve('dist/index.js'))}
      const sn = await openSnapshotter('native', ${JSON.stringify(root)})
      await buildSnapshot(sn, { purpose: 'unpack', name: 'never' }, async (fs) => {
        await fs.writeFile('/partial', Buffer.alloc(4096))
        process.stdout.write('filling\\n')
        await new Promise(() => setInterval(() => {}, 1000))
      })`
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise<void>((done) => child.stdout.once('data', () => done()))
    const exited = new Promise((done) => child.once('exit', done))
    child.kill('SIGKILL')
    await exited
    const cli = (...args: string[]) => strataCli(['--root', root, ...args])
    const check = await cli('check')
    expect(check.code).toBe(1)
    expect(check.stdout).toMatch(new RegExp(`^abandoned: strata-unpack-[0-9a-f]{16}: unpack work of dead process ${child.pid} `, 'm'))
    const cleanup = await cli('cleanup')
    expect(cleanup.stdout).toMatch(new RegExp(`^removed strata-unpack-[0-9a-f]{16} \\(unpack work of dead process ${child.pid}\\)$`, 'm'))
    expect((await cli('ls')).stdout.trim()).toBe('KEY  PARENT  KIND')
    expect((await cli('check')).stdout).toBe('ok\n')
    sn = await openSnapshotter('native', root)
  })

  it('a live owner keeps its work; the same pid with another start time (a reused pid) does not', async () => {
    const own = { purpose: 'init', pid: process.pid, started: processStart(process.pid) }
    await sn.prepare('mine', undefined, { labels: { [WIP_LABEL]: JSON.stringify(own) } })
    await sn.prepare('reused', undefined, { labels: { [WIP_LABEL]: JSON.stringify({ ...own, started: (own.started ?? 0) + 1 }) } })
    expect((await abandonedWork(sn)).map((w) => w.key)).toEqual(['reused'])
    expect((await reclaimAbandoned(sn)).map((w) => w.key)).toEqual(['reused'])
    expect(await names()).toEqual(['mine'])
  })
})
