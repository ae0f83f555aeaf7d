/**
 * Where basic credentials come from, as docker looks for them: `--user
 * USER:PASSWORD`, else the `auths` of `$DOCKER_CONFIG/config.json` (default
 * `~/.docker/config.json`), keyed by registry host (docker.io also as
 * `https://index.docker.io/v1/`). Credential helpers (`credsStore`,
 * `credHelpers`) are not run.
 */
import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { InvalidArgumentError } from '../core/errors.js'
import { DOCKER_HUB } from './reference.js'

export interface Credentials {
  username: string
  password: string
}

/** `USER:PASSWORD` (the password may hold colons). */
export function parseUser(text: string): Credentials {
  const colon = text.indexOf(':')
  if (colon <= 0) throw new InvalidArgumentError('--user needs USER:PASSWORD')
  return { username: text.slice(0, colon), password: text.slice(colon + 1) }
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>
}

function keysFor(registry: string): string[] {
  const keys = [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`]
  if (registry === DOCKER_HUB) keys.push('https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io')
  return keys
}

/** The credentials docker's config holds for `registry`, if any. */
export async function dockerConfigCredentials(
  registry: string,
  configDir = process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'),
): Promise<Credentials | undefined> {
  let config: DockerConfig
  try {
    config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as DockerConfig
  } catch {
    return undefined
  }
  for (const key of keysFor(registry)) {
    const entry = config.auths?.[key]
    if (!entry) continue
    if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password }
    if (typeof entry.auth === 'string') {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8')
      const colon = decoded.indexOf(':')
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
    }
  }
  return undefined
}
