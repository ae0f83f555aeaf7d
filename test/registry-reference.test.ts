/** Image references as docker normalises them, and challenge parsing (pure). */
import { describe, expect, it } from 'vitest'
import { parseChallenge } from '../registry/auth.js'
import { parseUser } from '../registry/credentials.js'
import { parsePlatform, pickPlatform } from '../registry/manifest.js'
import { formatReference, isLoopback, parseReference } from '../registry/reference.js'

describe('image references', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['user/app', 'docker.io/user/app:latest'],
    ['index.docker.io/library/busybox', 'docker.io/library/busybox:latest'],
    ['127.0.0.1:5000/team/app:v1', '127.0.0.1:5000/team/app:v1'],
    ['localhost/app', 'localhost/app:latest'],
    ['ghcr.io/o/r/deep:x', 'ghcr.io/o/r/deep:x'],
    [`host:5000/app:v1@sha256:${'a'.repeat(64)}`, `host:5000/app@sha256:${'a'.repeat(64)}`],
  ])('%s reads as %s', (text, full) => {
    expect(formatReference(parseReference(text))).toBe(full)
  })

  it.each(['', 'Busybox', 'app:bad tag', 'app@sha256:short', 'host:5000/UPPER', 'a//b', '-app'])(
    '%j fails with ERR_INVALID_ARGUMENT',
    (text) => {
      expect(() => parseReference(text)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
    },
  )

  it('loopback hosts may use plain HTTP; others may not', () => {
    expect(isLoopback('127.0.0.1:5000')).toBe(true)
    expect(isLoopback('localhost')).toBe(true)
    expect(isLoopback('[::1]:5000')).toBe(true)
    expect(isLoopback('registry.example:5000')).toBe(false)
  })
})

describe('challenges, users, platforms', () => {
  it('a Bearer challenge gives realm, service and scope, quoted or not', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="reg",scope="repository:a/b:pull,push"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:a/b:pull,push' },
    })
    expect(parseChallenge('Basic realm=strata')).toEqual({ scheme: 'basic', params: { realm: 'strata' } })
  })

  it('--user keeps colons in the password and needs a user', () => {
    expect(parseUser('me:a:b')).toEqual({ username: 'me', password: 'a:b' })
    expect(() => parseUser('nocolon')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }))
  })

  it('an index picks the platform asked for, with its variant when given', () => {
    const d = (architecture: string, variant?: string) => ({
      mediaType: 'x',
      digest: `sha256:${architecture[0].repeat(64)}`,
      size: 1,
      platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
    })
    const list = [d('amd64'), d('arm64', 'v8'), d('arm', 'v7')]
    expect(pickPlatform(list, parsePlatform('linux/arm64')).platform?.architecture).toBe('arm64')
    expect(pickPlatform(list, parsePlatform('linux/arm/v7')).platform?.variant).toBe('v7')
    expect(() => pickPlatform(list, parsePlatform('linux/s390x'))).toThrow(/no image for linux\/s390x/)
  })
})
