import { mkdtemp, rm, readdir, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Metastore } from '../../core/metastore.js'
import { Store } from '../../core/store.js'
import { openSnapshotter, registerDriver } from '../../index.js'

let root: string
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'strata-store-'))
})
afterEach(() => rm(root, { recursive: true, force: true }))

describe('Store', () => {
  it('refuses a second opener with ERR_UNAVAILABLE saying the store is in use', async () => {
    const a = await Store.open(root)
    await expect(Store.open(root)).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE', message: expect.stringContaining('in use') })
    await a.close()
    const b = await Store.open(root)
    await b.close()
  })

  it('empties tmp/ when it opens', async () => {
    await mkdir(join(root, 'tmp/w-left-by-a-crash/deep'), { recursive: true })
    const s = await Store.open(root)
    expect(await readdir(join(root, 'tmp'))).toEqual([])
    await s.close()
  })

  it('commits a transaction across sublevels atomically', async () => {
    const s = await Store.open(root)
    const a = s.sublevel<{ n: number }>('a')
    const b = s.binarySublevel<string>('b')
    await s
      .transaction()
      .put(a, 'k', { n: 1 })
      .put(b, Buffer.from([0, 1]), 'v')
      .write({ sync: true })
    expect(await a.get('k')).toEqual({ n: 1 })
    expect(await b.get(Buffer.from([0, 1]))).toBe('v')
    await s.close()
  })
})

describe('Metastore ids', () => {
  it('never hands out an id twice, even when a reservation was never used', async () => {
    let s = await Store.open(root)
    let m = new Metastore(s)
    const first = await m.reserveId()
    const second = await m.reserveId()
    expect(second).toBe(first + 1)
    await s.close() // as if the process died before writing any record
    s = await Store.open(root)
    m = new Metastore(s)
    expect(await m.reserveId()).toBe(second + 1)
    await s.close()
  })
})

describe('openSnapshotter()', () => {
  it('names the registered drivers when the driver is unknown', async () => {
    await expect(openSnapshotter('nope', root)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining('native'),
    })
  })

  it('refuses to open a root with another driver than the one that made it', async () => {
    registerDriver('native-again', async (r) => {
      const { openBackedSnapshotter } = await import('../../core/backed.js')
      const sn = await openSnapshotter('native', join(r, 'unused'))
      await sn.close()
      return openBackedSnapshotter({
        root: r,
        driver: 'native-again',
        backend: async () => {
          throw new Error('unreached')
        },
      })
    })
    const sn = await openSnapshotter('native', root)
    await sn.close()
    await expect(openSnapshotter('native-again', root)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringContaining('belongs to driver native'),
    })
  })

  it('rejects a bad driver name', () => {
    expect(() =>
      registerDriver('bad name', async () => {
        throw new Error()
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
  })
})
