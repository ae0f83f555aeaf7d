/**
 * Removing images and reclaiming interrupted work: rmi frees the layers no
 * other image or snapshot needs, rm refuses a layer an image uses, check
 * reports an image that lost a layer, and a work-in-progress snapshot whose
 * builder was SIGKILLed is listed by check and removed by cleanup.
 */
import { execFileSync, spawn } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
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
import { tarOf } from './helpers/tars.js'

const diff = (n: string) => sha256Digest(`layer ${n}`)
let root: string
let sn: Snapshotter

/** Commits the chain of `diffIds` (reusing layers already there) and records image `name` on it. */
async function fakeImage(name: string, diffIds: string[]): Promise<string[]> {
  const ids = chainIds(diffIds)
  for (const [i, id] of ids.entries()) {
    if ((await names()).includes(id)) continue
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

/** An OCI layout whose one layer blob is a FIFO: the test decides when (and whether) its bytes arrive. */
async function fifoLayout(dir: string, layer: Buffer): Promise<string> {
  const blobs = join(dir, 'blobs', 'sha256')
  await mkdir(blobs, { recursive: true })
  const put = async (data: Buffer | string): Promise<{ digest: string; size: number }> => {
    const digest = sha256Digest(data)
    await writeFile(join(blobs, digest.slice(7)), data)
    return { digest, size: Buffer.byteLength(data) }
  }
  const diffId = sha256Digest(layer)
  const config = await put(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }))
  const fifo = join(blobs, diffId.slice(7))
  execFileSync('mkfifo', [fifo])
  const manifest = await put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: diffId, size: layer.length }],
    }),
  )
  await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}')
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'slow' },
        },
      ],
    }),
  )
  return fifo
}

describe('an interrupted strata import', () => {
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${signal} ends it with exit ${code}, one line, and removes the half-unpacked layer`, async () => {
      await sn.close()
      const layout = join(root, 'layout')
      const layer = await tarOf([{ name: 'big', content: Buffer.alloc(4 << 20, 7) }])
      const fifo = await fifoLayout(layout, layer)
      const store = join(root, 'store')
      const child = spawn(process.execPath, [resolve('dist/cli/main.js'), '--root', store, '--driver', 'native', 'import', layout], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stderr = ''
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString()
      })
      const exited = new Promise<number | null>((done) => child.once('exit', (c) => done(c)))
      const writer = createWriteStream(fifo)
      writer.on('error', () => {}) // EPIPE once the import has stopped reading
      await new Promise<void>((done) => writer.write(layer.subarray(0, 1 << 20), () => done()))
      await new Promise((done) => setTimeout(done, 300)) // let the import write some of it
      child.kill(signal)
      // A read from a FIFO blocks a libuv thread until data or EOF: close our end once the signal is in.
      await new Promise((done) => setTimeout(done, 300))
      writer.destroy()
      expect(await exited).toBe(code)
      expect(stderr).toBe(
        `strata import: interrupted by ${signal}: the layer being unpacked was removed, layers already committed stay (a new import reuses them)\n`,
      )
      const cli = (...args: string[]) => strataCli(['--root', store, ...args])
      expect((await cli('ls')).stdout.trim()).toBe('KEY  PARENT  KIND')
      expect((await cli('images')).stdout.trim()).toBe('TAG  ID  LAYERS  SIZE')
      expect((await cli('check')).stdout).toBe('ok\n')
      sn = await openSnapshotter('native', root)
    })
  }
})
