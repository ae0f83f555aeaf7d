/**
 * The handlers of containerd's Snapshots service over one strata
 * Snapshotter: each request's fields become a call's arguments, the call's
 * result becomes the response, and a failed call answers the gRPC status
 * containerd's errdefs reads back (status.ts). The `snapshotter` field of
 * every request names containerd's proxy plugin; one server serves one
 * store, so it is not consulted.
 */
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js'
import { InvalidArgumentError, NotImplementedError } from '../core/errors.js'
import type { Info, Kind, Mount, Snapshotter } from '../core/snapshotter.js'
import type { Logger } from './log.js'
import { codeOf, toServiceError } from './status.js'

interface Timestamp {
  seconds: number
  nanos: number
}

interface WireInfo {
  name: string
  parent: string
  kind: 'UNKNOWN' | 'VIEW' | 'ACTIVE' | 'COMMITTED'
  created_at: Timestamp | null
  updated_at: Timestamp | null
  labels: Record<string, string>
}

interface WireMount {
  type: string
  source: string
  target: string
  options: string[]
}

interface KeyRequest {
  snapshotter: string
  key: string
}
interface CreateRequest extends KeyRequest {
  parent: string
  labels: Record<string, string>
}
interface CommitRequest extends CreateRequest {
  name: string
}
interface UpdateRequest {
  snapshotter: string
  info: WireInfo | null
  update_mask: { paths: string[] } | null
}
interface ListRequest {
  snapshotter: string
  filters: string[]
}

/** How many Infos one List message carries (containerd's own server sends batches too). */
const LIST_BATCH = 100

const KINDS: Record<Kind, WireInfo['kind']> = { view: 'VIEW', active: 'ACTIVE', committed: 'COMMITTED' }

function timestamp(d: Date): Timestamp {
  const ms = d.getTime()
  const seconds = Math.floor(ms / 1000)
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 }
}

export function toWireInfo(info: Info): WireInfo {
  return {
    name: info.name,
    parent: info.parent ?? '',
    kind: KINDS[info.kind],
    created_at: timestamp(info.created),
    updated_at: timestamp(info.updated),
    labels: info.labels,
  }
}

function toWireMounts(mounts: Mount[]): WireMount[] {
  return mounts.map((m) => ({ type: m.type, source: m.source, target: '', options: m.options }))
}

/** proto3 sends "" for an absent parent; strata's contract says undefined. */
function optional(s: string): string | undefined {
  return s === '' ? undefined : s
}

export interface ServiceOptions {
  log: Logger
  /** Wraps the work of each call, so the daemon knows what is in flight. */
  track?: <T>(work: Promise<T>) => Promise<T>
}

export function snapshotsImplementation(sn: Snapshotter, opts: ServiceOptions): UntypedServiceImplementation {
  const { log } = opts
  const track = opts.track ?? (<T>(work: Promise<T>) => work)

  const failed = (method: string, key: string | undefined, err: unknown): void => {
    const code = codeOf(err)
    // Typed errors are the client's business (containerd stats a missing
    // layer before every unpack); untyped ones are ours.
    log.log(code === undefined ? 'error' : 'warn', err instanceof Error ? err.message : String(err), {
      method,
      key,
      code: code ?? 'UNKNOWN',
    })
  }

  function unary<Req, Res>(method: string, keyOf: (req: Req) => string | undefined, fn: (req: Req) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const req = call.request
      track(fn(req)).then(
        (res) => callback(null, res),
        (err: unknown) => {
          failed(method, keyOf(req), err)
          callback(toServiceError(err))
        },
      )
    }
  }

  const empty = {}

  return {
    Prepare: unary(
      'Prepare',
      (r: CreateRequest) => r.key,
      async (r) => ({
        mounts: toWireMounts(await sn.prepare(r.key, optional(r.parent), { labels: r.labels })),
      }),
    ),
    View: unary(
      'View',
      (r: CreateRequest) => r.key,
      async (r) => ({
        mounts: toWireMounts(await sn.view(r.key, optional(r.parent), { labels: r.labels })),
      }),
    ),
    Mounts: unary(
      'Mounts',
      (r: KeyRequest) => r.key,
      async (r) => ({ mounts: toWireMounts(await sn.mounts(r.key)) }),
    ),
    Commit: unary(
      'Commit',
      (r: CommitRequest) => r.key,
      async (r) => {
        if (r.parent !== '') await checkRebase(sn, r.key, r.parent)
        await sn.commit(r.name, r.key, { labels: r.labels })
        return empty
      },
    ),
    Remove: unary(
      'Remove',
      (r: KeyRequest) => r.key,
      async (r) => {
        await sn.remove(r.key)
        return empty
      },
    ),
    Stat: unary(
      'Stat',
      (r: KeyRequest) => r.key,
      async (r) => ({ info: toWireInfo(await sn.stat(r.key)) }),
    ),
    Update: unary(
      'Update',
      (r: UpdateRequest) => r.info?.name,
      async (r) => {
        if (!r.info) throw new InvalidArgumentError('update needs the snapshot info')
        const info = await sn.update({ name: r.info.name, labels: r.info.labels }, r.update_mask?.paths ?? [])
        return { info: toWireInfo(info) }
      },
    ),
    Usage: unary(
      'Usage',
      (r: KeyRequest) => r.key,
      async (r) => sn.usage(r.key),
    ),
    Cleanup: unary(
      'Cleanup',
      () => undefined,
      async () => {
        await sn.cleanup()
        return empty
      },
    ),
    List: (call: ServerWritableStream<ListRequest, { info: WireInfo[] }>): void => {
      track(streamList(sn, call)).then(
        () => call.end(),
        (err: unknown) => {
          failed('List', undefined, err)
          call.emit('error', toServiceError(err))
        },
      )
    },
  }
}

/**
 * containerd 2's Commit may name a parent ("rebase", for parallel unpack).
 * Naming the parent the snapshot already has is a no-op; another parent is
 * InvalidArgument, as containerd says; giving a parentless snapshot one is a
 * rebase strata does not do.
 */
async function checkRebase(sn: Snapshotter, key: string, parent: string): Promise<void> {
  const info = await sn.stat(key)
  if (info.parent === parent) return
  if (info.parent !== undefined) {
    throw new InvalidArgumentError(
      `cannot commit ${JSON.stringify(key)} onto ${JSON.stringify(parent)}: its parent is ${JSON.stringify(info.parent)}`,
    )
  }
  throw new NotImplementedError(`strata cannot rebase ${JSON.stringify(key)} onto ${JSON.stringify(parent)} at commit`)
}

async function streamList(sn: Snapshotter, call: ServerWritableStream<ListRequest, { info: WireInfo[] }>): Promise<void> {
  let batch: WireInfo[] = []
  const flush = async (): Promise<void> => {
    const ok = call.write({ info: batch })
    batch = []
    // A client that went away never drains: stop waiting when it cancels.
    if (!ok)
      await new Promise<void>((resolve) => {
        call.once('drain', () => resolve())
        call.once('cancelled', () => resolve())
      })
  }
  for await (const info of sn.walk(call.request.filters)) {
    if (call.cancelled) return
    batch.push(toWireInfo(info))
    if (batch.length >= LIST_BATCH) await flush()
  }
  if (batch.length > 0) await flush()
}
