/**
 * Image references as users write them, normalised as docker does (pure):
 * `busybox` is `docker.io/library/busybox:latest`, `user/app` is
 * `docker.io/user/app:latest`, and a first component with a `.` or `:` (or
 * `localhost`) names the registry: `127.0.0.1:5000/team/app@sha256:…`. A
 * digest wins over a tag when both are given, as in docker.
 */
import { isDigest } from '../layers/digest.js'
import { InvalidArgumentError } from '../core/errors.js'

export const DOCKER_HUB = 'docker.io'
/** Where docker.io's API answers. */
const DOCKER_HUB_API = 'registry-1.docker.io'

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const TAG = /^[\w][\w.-]{0,127}$/
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$/
const MAX_NAME = 255

export interface Reference {
  /** The registry as named (`docker.io`, `127.0.0.1:5000`). */
  registry: string
  /** The repository inside it (`library/busybox`). */
  repository: string
  tag?: string
  digest?: string
}

function bad(ref: string, why: string): never {
  throw new InvalidArgumentError(`image reference ${JSON.stringify(ref)} ${why}`)
}

export function parseReference(ref: string): Reference {
  if (typeof ref !== 'string' || ref.length === 0) bad(String(ref), 'is empty')
  let rest = ref
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!isDigest(digest)) bad(ref, 'has a digest that is not sha256:<64 hex>')
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!TAG.test(tag)) bad(ref, 'has an invalid tag')
  }
  const parts = rest.split('/')
  let registry = DOCKER_HUB
  const first = parts[0]
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first === 'index.docker.io' ? DOCKER_HUB : first
    parts.shift()
    if (!HOST.test(registry)) bad(ref, 'names an invalid registry host')
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library')
  const repository = parts.join('/')
  if (parts.some((p) => !COMPONENT.test(p))) bad(ref, 'has an invalid repository name (lowercase letters, digits, separators)')
  if (repository.length > MAX_NAME) bad(ref, `has a repository name over ${MAX_NAME} characters`)
  const out: Reference = { registry, repository }
  if (digest !== undefined) out.digest = digest
  else out.tag = tag ?? 'latest'
  return out
}

/** True when `text` reads as a reference (so `strata run` may pull it). */
export function isReference(text: string): boolean {
  try {
    parseReference(text)
    return true
  } catch {
    return false
  }
}

/** `registry/repository` — the key a blob's source repository is kept under. */
export function repositoryOf(ref: Reference): string {
  return `${ref.registry}/${ref.repository}`
}

/** The full reference: `docker.io/library/busybox:latest`, `host:5000/app@sha256:…`. */
export function formatReference(ref: Reference): string {
  return repositoryOf(ref) + (ref.digest !== undefined ? `@${ref.digest}` : `:${ref.tag ?? 'latest'}`)
}

/** The host the API is reached on. */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry
}

/** Loopback registries may speak plain HTTP, as docker allows for 127.0.0.0/8 by default. */
export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:[0-9]+$/, '').replace(/^\[|\]$/g, '')
  return host === 'localhost' || host === '::1' || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host)
}
