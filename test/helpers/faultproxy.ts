/**
 * A small HTTP proxy in front of the test registry that misbehaves on
 * purpose: a rule sees each request and may answer a status instead, drop
 * the connection after some bytes of the response, end the response short,
 * replace its body, or redirect it to a path of its own (`/_redirect/…`,
 * which the proxy serves by forwarding). It counts the request body bytes of
 * uploads (PATCH, PUT) so a test can tell what a push sent.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'

export type Fault =
  | { status: number; headers?: Record<string, string> }
  | { dropAfter: number }
  | { truncateAfter: number }
  /** Sends this many bytes of the response, then nothing more, the connection left open. */
  | { stallAfter: number }
  | { body: Buffer; contentType?: string }
  | { redirect: true }
  /** Forwards this many bytes of the request body, then drops both connections (an upload cut off). */
  | { dropRequestAfter: number }

/** Returns the fault for this request, or undefined to pass it through. */
export type Rule = (req: IncomingMessage) => Fault | undefined

export interface FaultProxy {
  host: string
  rules: Rule[]
  /** Request lines seen (`GET /v2/...`, with a `Range` header appended when sent). */
  log: string[]
  /** Body bytes of PATCH and PUT requests to blob uploads. */
  uploadedBytes: number
  stop(): Promise<void>
}

/** A rule that fires `times` times for requests `match` accepts, then passes. */
export function times(n: number, match: (req: IncomingMessage) => boolean, fault: Fault): Rule {
  let left = n
  return (req) => {
    if (left <= 0 || !match(req)) return undefined
    left--
    return fault
  }
}

/** A rule that fires once, on the `n`-th request (1-based) `match` accepts. */
export function nth(n: number, match: (req: IncomingMessage) => boolean, fault: Fault): Rule {
  let seen = 0
  return (req) => (match(req) && ++seen === n ? fault : undefined)
}

export const isBlobGet = (req: IncomingMessage): boolean => req.method === 'GET' && /\/blobs\/sha256:/.test(req.url ?? '')

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const proxy: FaultProxy = { host: '', rules: [], log: [], uploadedBytes: 0, stop: async () => {} }
  const server: Server = createServer((req, res) => handle(proxy, target, req, res))
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  proxy.host = `127.0.0.1:${(server.address() as { port: number }).port}`
  proxy.stop = () =>
    new Promise((r) => {
      server.closeAllConnections()
      server.close(() => r())
    })
  return proxy
}

function handle(proxy: FaultProxy, target: string, req: IncomingMessage, res: ServerResponse): void {
  proxy.log.push(`${req.method} ${req.url}${req.headers.range ? ` ${req.headers.range}` : ''}`)
  let fault: Fault | undefined
  for (const rule of proxy.rules) {
    fault = rule(req)
    if (fault) break
  }
  if (fault && 'status' in fault) {
    req.resume()
    res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers })
    res.end('{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}')
    return
  }
  if (fault && 'redirect' in fault) {
    req.resume()
    res.writeHead(307, { location: `http://${proxy.host}/_redirect${req.url}` })
    res.end()
    return
  }
  const path = (req.url ?? '/').replace(/^\/_redirect/, '')
  const upstream = request(`http://${target}${path}`, { method: req.method, headers: req.headers }, (up) => respond(up, res, fault))
  upstream.on('error', () => res.destroy())
  if (req.method === 'PATCH' || req.method === 'PUT')
    req.on('data', (c: Buffer) => {
      if (/\/blobs\/uploads\//.test(path)) proxy.uploadedBytes += c.length
    })
  if (fault && 'dropRequestAfter' in fault) {
    let left = fault.dropRequestAfter
    req.on('data', (c: Buffer) => {
      if (left <= 0) return
      upstream.write(c.subarray(0, left))
      left -= c.length
      if (left <= 0) {
        setTimeout(() => {
          upstream.destroy()
          res.destroy()
        }, 50)
      }
    })
    return
  }
  req.pipe(upstream)
}

function respond(up: IncomingMessage, res: ServerResponse, fault: Fault | undefined): void {
  if (fault && 'body' in fault) {
    up.resume()
    res.writeHead(up.statusCode ?? 200, {
      'content-type': fault.contentType ?? up.headers['content-type'] ?? 'application/octet-stream',
      'content-length': fault.body.length,
    })
    res.end(fault.body)
    return
  }
  const headers = { ...up.headers }
  if (fault && 'truncateAfter' in fault) delete headers['content-length']
  res.writeHead(up.statusCode ?? 502, headers)
  if (!fault || !('dropAfter' in fault || 'truncateAfter' in fault || 'stallAfter' in fault)) {
    up.pipe(res)
    return
  }
  const limit = 'dropAfter' in fault ? fault.dropAfter : 'stallAfter' in fault ? fault.stallAfter : fault.truncateAfter
  let sent = 0
  up.on('data', (chunk: Buffer) => {
    if (sent >= limit) return
    const part = chunk.subarray(0, limit - sent)
    sent += part.length
    res.write(part)
    if (sent >= limit) {
      up.destroy()
      if ('dropAfter' in fault) res.destroy()
      else if ('truncateAfter' in fault) res.end()
    }
  })
  up.on('end', () => {
    if (!('stallAfter' in fault)) res.end()
  })
}
