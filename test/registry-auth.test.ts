/**
 * Authentication against a private docker-registry: basic auth through an
 * htpasswd config (`--user`, or docker's config.json), and bearer tokens
 * from a token server the test runs, cached per scope. Wrong credentials
 * fail with ERR_FAILED_PRECONDITION and the password appears nowhere.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { imagesOf } from '../index.js'
import { RegistryClient } from '../registry/client.js'
import { dockerConfigCredentials } from '../registry/credentials.js'
import { isRegistryError } from '../registry/errors.js'
import { pullImage } from '../registry/pull.js'
import { pushImage } from '../registry/push.js'
import { skopeoPush, startRegistry, type TestRegistry } from './helpers/registry.js'
import { startTokenServer, type TokenServer } from './helpers/tokenserver.js'
import { drivers, missingTools, tempDir, withTempStore } from './helpers/tools.js'
import { buildTestImage, type TestImage } from './helpers/umoci.js'

const user = { username: 'alice', password: 's3cret-Passw0rd' }
let work: string
let image: TestImage
let basic: TestRegistry | undefined
let bearer: TestRegistry | undefined
let tokens: TokenServer | undefined
let skip: string | undefined
const fast = { plainHttp: true, backoffMs: 5 }

beforeAll(async () => {
  skip = await missingTools('umoci', 'busybox', 'skopeo', 'docker-registry', 'htpasswd', 'openssl')
  if (skip) return
  work = await tempDir('auth')
  image = await buildTestImage(work)
  basic = await startRegistry({ htpasswd: user })
  await skopeoPush(image.layout, 'v3', `${basic.host}/private/layers:v3`, `${user.username}:${user.password}`)
  tokens = await startTokenServer(work)
  bearer = await startRegistry({ token: tokens })
}, 120_000)

afterAll(async () => {
  await basic?.stop()
  await bearer?.stop()
  await tokens?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

describe('registry authentication', () => {
  it('basic auth with the right --user pulls; wrong or none fails with ERR_FAILED_PRECONDITION, the password in no message', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(drivers()[0], async (sn) => {
      const ref = `${basic!.host}/private/layers:v3`
      const wrong = await pullImage(sn, ref, { ...fast, credentials: { ...user, password: 'not-it' } }).catch((e: unknown) => e)
      expect(isRegistryError(wrong), String(wrong)).toBe(true)
      expect((wrong as { code: string }).code).toBe('ERR_FAILED_PRECONDITION')
      expect((wrong as { status: number }).status).toBe(401)
      expect(JSON.stringify({ m: (wrong as Error).message, s: (wrong as Error).stack })).not.toContain('not-it')
      const none = await pullImage(sn, ref, fast).catch((e: unknown) => e)
      expect((none as { code: string }).code).toBe('ERR_FAILED_PRECONDITION')
      expect(await imagesOf(sn).list()).toEqual([])
      const ok = await pullImage(sn, ref, { ...fast, credentials: user })
      expect(ok.chainIds).toHaveLength(3)
      expect(JSON.stringify(ok)).not.toContain(user.password)
    })
  })

  it("credentials come from docker's config.json auths for the registry host", async (ctx) => {
    if (skip) ctx.skip(skip)
    const dir = join(work, 'docker')
    await mkdir(dir, { recursive: true })
    const auth = Buffer.from(`${user.username}:${user.password}`).toString('base64')
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [basic!.host]: { auth } } }))
    const credentials = await dockerConfigCredentials(basic!.host, dir)
    expect(credentials).toEqual(user)
    expect(await dockerConfigCredentials('elsewhere.example:5000', dir)).toBeUndefined()
    await withTempStore(drivers()[0], async (sn) => {
      const ok = await pullImage(sn, `${basic!.host}/private/layers:v3`, { ...fast, ...(credentials ? { credentials } : {}) })
      expect(ok.chainIds).toHaveLength(3)
    })
  })

  it('a bearer-token registry: push and pull with tokens from the realm, one token per scope for a client', async (ctx) => {
    if (skip) ctx.skip(skip)
    await withTempStore(drivers()[0], async (sn) => {
      const auth = await pullImage(sn, `${basic!.host}/private/layers:v3`, { ...fast, credentials: user })
      const client = new RegistryClient(bearer!.host, fast)
      const pushed = await pushImage(sn, auth.name, `${bearer!.host}/team/app:v3`, { ...fast, client })
      expect(pushed.layers.map((l) => l.how)).toEqual(['uploaded', 'uploaded', 'uploaded'])
      const pushTokens = tokens!.issued.filter((s) => s.includes('repository:team/app:pull,push'))
      expect(pushTokens, JSON.stringify(tokens!.issued)).toHaveLength(1)
      await withTempStore(drivers()[0], async (other) => {
        const pullClient = new RegistryClient(bearer!.host, fast)
        const before = tokens!.issued.length
        await pullImage(other, `${bearer!.host}/team/app:v3`, { ...fast, client: pullClient })
        await imagesOf(other).delete(`${bearer!.host}/team/app:v3`)
        await pullImage(other, `${bearer!.host}/team/app:v3`, { ...fast, client: pullClient })
        expect(tokens!.issued.length - before).toBe(1)
      })
    })
  })
})
