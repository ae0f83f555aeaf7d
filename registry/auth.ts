/**
 * Authentication as docker does it. A request goes out with what we hold for
 * its scope (a bearer token, or basic credentials once the registry asked for
 * them); a 401 answers with `WWW-Authenticate`, and for `Bearer realm=…,
 * service=…,scope=…` a token is fetched from the realm (with the basic
 * credentials when we have some, anonymously otherwise) and cached per scope.
 * Tokens and credentials stay in this module: nothing here builds a message.
 */
import type { Credentials } from './credentials.js'

export interface Challenge {
  scheme: string
  params: Record<string, string>
}

/** Parses `Bearer realm="https://a/token",service="reg",scope="repository:x:pull"` (quoted or bare values). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header)
  if (!m) return undefined
  const params: Record<string, string> = {}
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g
  for (let p = re.exec(m[2]); p; p = re.exec(m[2])) params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]
  return { scheme: m[1].toLowerCase(), params }
}

export function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`
}

export interface TokenRequest {
  challenge: Challenge
  /** The scopes we need, space-separated (`repository:name:pull,push repository:other:pull`). */
  scope: string
  credentials?: Credentials
  fetch: (url: string, init: RequestInit) => Promise<Response>
}

/** Asks the realm for a token; undefined when it refuses (the caller reports the 401). */
export async function fetchToken(req: TokenRequest): Promise<string | undefined> {
  const realm = req.challenge.params.realm
  if (!realm) return undefined
  const url = new URL(realm)
  if (req.challenge.params.service) url.searchParams.set('service', req.challenge.params.service)
  const scopes = [...(req.challenge.params.scope ?? '').split(' '), ...req.scope.split(' ')].filter(Boolean)
  for (const scope of new Set(scopes)) url.searchParams.append('scope', scope)
  const headers: Record<string, string> = {}
  if (req.credentials) headers.authorization = basicHeader(req.credentials)
  const res = await req.fetch(url.toString(), { headers })
  if (!res.ok) {
    await res.body?.cancel()
    return undefined
  }
  const body = (await res.json().catch(() => ({}))) as { token?: unknown; access_token?: unknown }
  const token = typeof body.token === 'string' ? body.token : body.access_token
  return typeof token === 'string' && token.length > 0 ? token : undefined
}

/** What a registry client holds: basic credentials, whether the registry wants them, tokens per scope. */
export class AuthState {
  readonly #credentials?: Credentials
  readonly #tokens = new Map<string, string>()
  /** Token requests in flight, by scope: parallel requests that meet a 401 together share one. */
  readonly #fetching = new Map<string, Promise<string | undefined>>()
  #basic = false

  constructor(credentials?: Credentials) {
    if (credentials) this.#credentials = credentials
  }

  get credentials(): Credentials | undefined {
    return this.#credentials
  }

  /** The Authorization header for `scope`, if we hold anything for it. */
  header(scope: string): string | undefined {
    const token = this.#tokens.get(scope)
    if (token !== undefined) return `Bearer ${token}`
    if (this.#basic && this.#credentials) return basicHeader(this.#credentials)
    return undefined
  }

  /**
   * Answers a 401's challenge: true when there is something new to retry
   * with (a token other than the one `sent`, or basic credentials not sent yet).
   */
  async answer(challenge: Challenge | undefined, scope: string, fetch: TokenRequest['fetch'], sent?: string): Promise<boolean> {
    if (challenge?.scheme === 'basic') {
      if (!this.#credentials || this.#basic) return false
      this.#basic = true
      return true
    }
    if (challenge?.scheme !== 'bearer') return false
    // A token another request fetched after this one was sent: retry with it before asking again.
    const held = this.#tokens.get(scope)
    if (held !== undefined && `Bearer ${held}` !== sent) return true
    let pending = this.#fetching.get(scope)
    if (pending === undefined) {
      pending = fetchToken({ challenge, scope, fetch, ...(this.#credentials ? { credentials: this.#credentials } : {}) })
      this.#fetching.set(scope, pending)
      pending
        .then(
          (t) => {
            if (t !== undefined) this.#tokens.set(scope, t)
          },
          () => {},
        )
        .finally(() => this.#fetching.delete(scope))
    }
    const token = await pending
    if (token === undefined) return false
    this.#tokens.set(scope, token)
    return `Bearer ${token}` !== sent
  }
}
