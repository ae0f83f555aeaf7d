/** FileHandle.sync() and the flush modes (core/durable.ts); what survives a cut is the crash disk's to show. */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { flushMode, makeDurable } from '../core/durable.js'
import { drivers, tempDir, withTempStore } from './helpers/tools.js'

afterEach(() => {
  delete process.env.STRATA_FLUSH
})

describe('FileHandle.sync()', () => {
  for (const driver of drivers()) {
    it(`${driver}: sync() of an open handle resolves and the data reads back; of a closed one fails with EBADF`, async () => {
      await withTempStore(driver, async (sn) => {
        await sn.prepare('a')
        const fs = await sn.open('a')
        try {
          const fh = await fs.open('/f', 'w', 0o644)
          await fh.write(Buffer.from('durable'), 0, 7, 0)
          await fh.sync()
          await fh.close()
          await expect(fh.sync()).rejects.toMatchObject({ code: 'EBADF' })
          expect((await fs.readFile('/f')).toString()).toBe('durable')
        } finally {
          await fs.close()
        }
      })
    })
  }
})

describe('flush modes', () => {
  it('STRATA_FLUSH defaults to syncfs and refuses an unknown mode', () => {
    expect(flushMode()).toBe('syncfs')
    process.env.STRATA_FLUSH = 'sometimes'
    expect(() => flushMode()).toThrow(/STRATA_FLUSH=sometimes/)
  })

  for (const mode of ['syncfs', 'fsync', 'off'] as const) {
    it(`makeDurable in ${mode} mode flushes a tree with files and directories and leaves it as it was`, async () => {
      const dir = await tempDir('durable')
      await mkdir(join(dir, 'd'))
      await writeFile(join(dir, 'd', 'f'), 'x')
      await makeDurable({ trees: [dir], dirs: [dir] }, mode)
      expect(await readFile(join(dir, 'd', 'f'), 'utf8')).toBe('x')
      await rm(dir, { recursive: true, force: true })
    })
  }
})
