/**
 * A small OCI distribution client on Node's own fetch (undici): one registry,
 * its scheme found by a ping of `/v2/`, every request authenticated for its
 * scope (auth.ts) and retried with backoff on connection errors, 429 and
 * 5xx. Redirects are followed by fetch, which drops the Authorization header
 * when a redirect leaves the registry's origin (blob stores behind it).
 * Request bodies given as Buffers are re-sent on a retry; streams are not
 * (the uploader resumes them itself).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { AuthState, parseChallenge } from './auth.js'
import type { Credentials } from './credentials.js'
import { codeOfStatus, RegistryError, type RegistryStep } from './errors.js'
import { apiHost, isLoopback } from './reference.js'

export interface ClientOptions {
  /** Speak plain HTTP to the registry. */
  plainHttp?: boolean
  /** Fall back to plain HTTP when HTTPS cannot connect (as docker's insecure registries; loopback always may). */
  insecure?: boolean
  credentials?: Credentials
  /** Attempts after the first on a connection error, 429 or 5xx (default 4). */
  retries?: number
  /** First backoff; it doubles each attempt, with jitter (default 200 ms). */
  backoffMs?: number
  /** A blob response that sends nothing for this long is given up and resumed (default 30 s). */
  idleTimeoutMs?: number
}

export interface Where {
  ref: string
  step: RegistryStep
}

export interface RegistryRequest {
  method?: string
  /** A path under the registry (`/v2/...`) or an absolute URL (an upload location). */
  url: string
  headers?: Record<string, string>
  body?: Buffer | ReadableStream<Uint8Array>
  /** Space-separated token scopes (`repository:app:pull`). */
  scope: string
  where: Where
  signal?: AbortSignal
  /** Re-send on a connection error, 429 or 5xx (default: when the body is a Buffer or absent). */
  retry?: boolean
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504])
const MAX_RETRY_AFTER_MS = 10_000

export class RegistryClient {
  readonly registry: string
  readonly #opts: ClientOptions
  readonly #auth: AuthState
  #base: Promise<string> | undefined

  constructor(registry: string, opts: ClientOptions = {}) {
    this.registry = registry
    this.#opts = opts
    this.#auth = new AuthState(opts.credentials)
  }

  get retries(): number {
    return this.#opts.retries ?? 4
  }

  get idleTimeoutMs(): number {
    return this.#opts.idleTimeoutMs ?? 30_000
  }

  /** Waits before attempt `attempt` (1-based): the server's Retry-After when it sent one. */
  async backoff(attempt: number, retryAfter?: string | null, signal?: AbortSignal): Promise<void> {
    const base = this.#opts.backoffMs ?? 200
    const asked = retryAfter ? Number(retryAfter) * 1000 : Number.NaN
    const ms = Number.isFinite(asked) ? Math.min(asked, MAX_RETRY_AFTER_MS) : base * 2 ** (attempt - 1) * (0.5 + Math.random() / 2)
    await sleep(ms, undefined, signal ? { signal } : {})
  }

  /** The scheme and host, found once: https unless plain HTTP is asked for or allowed and https fails. */
  base(where: Where): Promise<string> {
    this.#base ??= this.#probe(where)
    this.#base.catch(() => {
      this.#base = undefined
    })
    return this.#base
  }

  async #probe(where: Where): Promise<string> {
    const host = apiHost(this.registry)
    if (this.#opts.plainHttp) return `http://${host}`
    const https = `https://${host}`
    if (!this.#opts.insecure && !isLoopback(this.registry)) return https
    try {
      const res = await fetch(`${https}/v2/`, { signal: AbortSignal.timeout(10_000) })
      await res.body?.cancel()
      return https
    } catch {
      try {
        const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(10_000) })
        await res.body?.cancel()
        return `http://${host}`
      } catch (err) {
        throw new RegistryError('ERR_UNAVAILABLE', { ...where, step: 'ping' }, `cannot reach ${this.registry} over https or http`, {
          cause: err,
        })
      }
    }
  }

  async url(path: string, where: Where): Promise<string> {
    return /^https?:\/\//.test(path) ? path : `${await this.base(where)}${path}`
  }

  /**
   * Sends one request: authenticated, retried while it may be. Returns
   * whatever status came last that is not a retryable one; throws when the
   * connection fails every time, when retryable statuses last, or on a 401
   * nothing more can answer.
   */
  async request(req: RegistryRequest): Promise<Response> {
    const url = await this.url(req.url, req.where)
    const retryable = req.retry ?? (req.body === undefined || Buffer.isBuffer(req.body))
    let answered = false
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...req.headers }
      const auth = this.#auth.header(req.scope)
      if (auth !== undefined) headers.authorization = auth
      let res: Response
      try {
        res = await fetch(url, {
          method: req.method ?? 'GET',
          headers,
          redirect: 'follow',
          ...(req.body === undefined ? {} : { body: req.body, duplex: 'half' }),
          ...(req.signal ? { signal: req.signal } : {}),
        } as RequestInit)
      } catch (err) {
        if (req.signal?.aborted) throw err
        if (retryable && attempt < this.retries) {
          await this.backoff(attempt + 1, undefined, req.signal)
          continue
        }
        throw new RegistryError('ERR_UNAVAILABLE', req.where, `connection to ${this.registry} failed (${causeCode(err)})`, { cause: err })
      }
      if (res.status === 401 && !answered) {
        await res.body?.cancel()
        answered = true
        const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '')
        const fetchToken = (u: string, init: RequestInit): Promise<Response> =>
          fetch(u, { ...init, ...(req.signal ? { signal: req.signal } : {}) })
        if (await this.#auth.answer(challenge, req.scope, fetchToken, auth).catch(() => false)) {
          attempt--
          continue
        }
        throw unauthorized(req.where, this.#auth.credentials !== undefined)
      }
      if (res.status === 401) {
        await res.body?.cancel()
        throw unauthorized(req.where, this.#auth.credentials !== undefined)
      }
      if (RETRY_STATUS.has(res.status) && retryable && attempt < this.retries) {
        await res.body?.cancel()
        await this.backoff(attempt + 1, res.headers.get('retry-after'), req.signal)
        continue
      }
      return res
    }
  }

  /** Throws the error for a response that is not what the step needed. */
  async fail(res: Response, where: Where, what: string): Promise<never> {
    const detail = await registryErrorCodes(res)
    throw new RegistryError(codeOfStatus(res.status), { ...where, status: res.status }, `${what}: HTTP ${res.status}${detail}`)
  }
}

function unauthorized(where: Where, hadCredentials: boolean): RegistryError {
  return new RegistryError(
    'ERR_FAILED_PRECONDITION',
    { ...where, status: 401 },
    hadCredentials
      ? 'unauthorized: the registry refused the credentials'
      : 'unauthorized: the registry wants credentials (--user or docker login)',
  )
}

/** The registry's error codes (`MANIFEST_UNKNOWN`), never its free text (it may echo a request). */
async function registryErrorCodes(res: Response): Promise<string> {
  const text = await res.text().catch(() => '')
  try {
    const body = JSON.parse(text) as { errors?: Array<{ code?: unknown }> }
    const codes = (body.errors ?? []).map((e) => e.code).filter((c): c is string => typeof c === 'string' && /^[A-Z_]+$/.test(c))
    return codes.length > 0 ? ` (${codes.join(', ')})` : ''
  } catch {
    return ''
  }
}

function causeCode(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause
  if (typeof cause?.code === 'string') return cause.code
  return err instanceof Error ? err.message : String(err)
}
