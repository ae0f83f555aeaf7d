/**
 * A gRPC client of containerd's Snapshots service, for tests that talk to
 * `strata serve` the way containerd does (same .proto, same socket), and
 * read back what the backend itself holds while the daemon runs.
 */
import { credentials, makeGenericClientConstructor, type Client, type ServiceError } from '@grpc/grpc-js'
import { snapshotsService } from '../../serve/proto.js'

export interface WireInfo {
  name: string
  parent: string
  kind: string
  labels: Record<string, string>
  created_at: { seconds: number; nanos: number }
  updated_at: { seconds: number; nanos: number }
}

type Unary = (req: object, cb: (err: ServiceError | null, res: never) => void) => void

export class SnapshotsClient {
  readonly #client: Client & Record<string, Unary>

  constructor(socket: string) {
    const Ctor = makeGenericClientConstructor(snapshotsService(), 'Snapshots')
    this.#client = new Ctor(`unix://${socket}`, credentials.createInsecure()) as Client & Record<string, Unary>
  }

  /** One unary call; rejects with the ServiceError (its `code` is the gRPC status). */
  call<T = Record<string, unknown>>(method: string, req: object): Promise<T> {
    return new Promise((resolve, reject) => {
      this.#client[method].call(this.#client, { snapshotter: 'test', ...req }, (err, res) => (err ? reject(err) : resolve(res as T)))
    })
  }

  /** The gRPC status code a call fails with (0 when it succeeds). */
  async codeOf(method: string, req: object): Promise<number> {
    try {
      await this.call(method, req)
      return 0
    } catch (err) {
      return (err as ServiceError).code
    }
  }

  /** List as a whole: every message's infos, and how many messages carried them. */
  list(filters: string[] = []): Promise<{ infos: WireInfo[]; messages: number }> {
    return new Promise((resolve, reject) => {
      const stream = (this.#client as unknown as { List: (req: object) => NodeJS.ReadableStream }).List({ snapshotter: 'test', filters })
      const infos: WireInfo[] = []
      let messages = 0
      stream.on('data', (msg: { info: WireInfo[] }) => {
        messages++
        infos.push(...msg.info)
      })
      stream.on('error', reject)
      stream.on('end', () => resolve({ infos, messages }))
    })
  }

  close(): void {
    this.#client.close()
  }
}
