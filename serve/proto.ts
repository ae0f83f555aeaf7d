/**
 * containerd's snapshots service definition, loaded at run time from the
 * .proto files shipped beside this module (`serve/proto/`, copied into
 * `dist/serve/proto/` by the build). Loading the text keeps the wire format
 * reviewable against containerd's own file; no generated code to keep in step.
 */
import { fileURLToPath } from 'node:url'
import { loadPackageDefinition, type ServiceDefinition } from '@grpc/grpc-js'
import { loadSync } from '@grpc/proto-loader'

export const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url))

/** The full name containerd dials: `containerd.services.snapshots.v1.Snapshots`. */
export const SERVICE_NAME = 'containerd.services.snapshots.v1.Snapshots'

let cached: ServiceDefinition | undefined

/**
 * The service definition in grpc-js's shape. Messages decode with proto
 * field names (`created_at`), 64-bit integers as numbers, enums as their
 * names and absent fields as their defaults, which is how proto3 reads them.
 */
export function snapshotsService(): ServiceDefinition {
  if (cached) return cached
  const definition = loadSync('snapshots.proto', {
    includeDirs: [PROTO_DIR],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  })
  const loaded = loadPackageDefinition(definition) as unknown as {
    containerd: { services: { snapshots: { v1: { Snapshots: { service: ServiceDefinition } } } } }
  }
  cached = loaded.containerd.services.snapshots.v1.Snapshots.service
  return cached
}
