/**
 * A bearer-token endpoint for the test registry's `auth.token` config: an
 * RSA key and a self-signed certificate made by openssl, and an HTTP server
 * that answers `GET /token?service=&scope=` with a JWT (RS256, `kid` in
 * libtrust's key-ID form, which Distribution 2.8 looks the key up by)
 * granting the scopes asked for. It can require basic credentials, and it
 * counts the tokens it issues.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, sign } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { run } from './tools.js'

export interface TokenServer {
  realm: string
  service: string
  issuer: string
  certPem: string
  /** Tokens issued, and the scopes each was asked for. */
  issued: string[][]
  stop(): Promise<void>
}

/** libtrust's key ID: the first 240 bits of sha256(DER SubjectPublicKeyInfo), base32, in groups of four. */
function keyId(der: Buffer): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  const bytes = createHash('sha256').update(der).digest().subarray(0, 30)
  let bits = ''
  for (const b of bytes) bits += b.toString(2).padStart(8, '0')
  let out = ''
  for (let i = 0; i < bits.length; i += 5) out += alphabet[Number.parseInt(bits.slice(i, i + 5), 2)]
  return out.match(/.{4}/g)!.join(':')
}

const b64url = (v: Buffer | string): string => Buffer.from(v).toString('base64url')

export async function startTokenServer(dir: string, needs?: { username: string; password: string }): Promise<TokenServer> {
  const key = join(dir, 'token.key')
  const cert = join(dir, 'token.crt')
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=strata-token',
  ])
  const privateKey = createPrivateKey(await readFile(key))
  const kid = keyId(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }))
  const issued: string[][] = []
  const service = 'strata-test'
  const issuer = 'strata-token'
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (needs) {
      const want = `Basic ${Buffer.from(`${needs.username}:${needs.password}`).toString('base64')}`
      if (req.headers.authorization !== want) {
        res.writeHead(401).end()
        return
      }
    }
    const scopes = url.searchParams.getAll('scope')
    issued.push(scopes)
    const access = scopes.map((s) => {
      const [type, ...rest] = s.split(':')
      const actions = rest.pop() ?? ''
      return { type, name: rest.join(':'), actions: actions.split(',') }
    })
    const now = Math.floor(Date.now() / 1000)
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid }))
    const claims = b64url(
      JSON.stringify({
        iss: issuer,
        sub: 'tester',
        aud: service,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString('hex'),
        access,
      }),
    )
    const signature = b64url(sign('sha256', Buffer.from(`${header}.${claims}`), privateKey))
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ token: `${header}.${claims}.${signature}`, expires_in: 300 }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const realm = `http://127.0.0.1:${(server.address() as { port: number }).port}/token`
  return {
    realm,
    service,
    issuer,
    issued,
    certPem: await readFile(cert, 'utf8'),
    stop: () =>
      new Promise((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}
