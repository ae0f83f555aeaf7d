/**
 * The package's public surface, as SPEC.md lists it ("Package and entry
 * points"): each entry, imported from the built package by name as a user
 * would, exports exactly these runtime names. A name added or dropped
 * without SPEC.md changing with it fails here.
 */
import { describe, expect, it } from 'vitest'

const DOCUMENTED: Record<string, string[]> = {
  strata: [
    'AlreadyExistsError',
    'DEFAULT_LIMITS',
    'DataLossError',
    'EMPTY_LAYER_DIFF_ID',
    'FailedPreconditionError',
    'InvalidArgumentError',
    'InvalidLayerError',
    'NotFoundError',
    'NotImplementedError',
    'RegistryClient',
    'RegistryError',
    'SnapshotterError',
    'UnavailableError',
    'WIP_LABEL',
    'abandonedWork',
    'applyLayer',
    'assertNoImageUses',
    'buildSnapshot',
    'chainIds',
    'checkImages',
    'commitLayer',
    'exportDiff',
    'formatReference',
    'imagesOf',
    'imagesUsing',
    'importImage',
    'isDigest',
    'isLayerError',
    'isRegistryError',
    'isSnapshotterError',
    'mountAll',
    'openImage',
    'openSnapshotter',
    'parseReference',
    'pullImage',
    'pushImage',
    'reclaimAbandoned',
    'registerDriver',
    'registeredDrivers',
    'removeImage',
    'sha256Digest',
    'unmount',
    'withMount',
    'withOpen',
    'workInProgress',
  ],
  'strata/driver': [
    'BackedSnapshotter',
    'CheckedFs',
    'CheckedHandle',
    'DirFs',
    'MountError',
    'Store',
    'Transaction',
    'cleanupAfter',
    'copyTree',
    'diskUsage',
    'errnoCode',
    'extensionOf',
    'isMountPoint',
    'mountAll',
    'mountsUnder',
    'openBackedSnapshotter',
    'parseFilters',
    'posixError',
    'removeTree',
    'resolveInRoot',
    'splitPath',
    'toFileStat',
    'unlessMissing',
    'unmount',
    'unmountUnder',
    'withMount',
    'withMountedFs',
    'withOpen',
  ],
  'strata/runtime': [
    'commitContainer',
    'containerConfigOf',
    'findContainer',
    'findRuntime',
    'listContainers',
    'makeInitLayer',
    'ociSpec',
    'removeContainer',
    'runBundle',
    'runContainer',
    'writeBundle',
    'writeInitFiles',
  ],
  'strata/conformance': ['allCases', 'conformance', 'plan', 'runPlanned', 'runSuite'],
  'strata/serve': ['PROTO_DIR', 'SERVICE_NAME', 'createLogger', 'grpcStatusOf', 'serveSnapshotter', 'silentLogger'],
}

describe('package exports', () => {
  for (const [entry, names] of Object.entries(DOCUMENTED)) {
    it(`${entry} exports exactly its documented names, each defined`, async () => {
      const mod = (await import(entry)) as Record<string, unknown>
      expect(Object.keys(mod).sort()).toEqual([...names].sort())
      for (const name of names) expect(mod[name], name).toBeDefined()
    })
  }

  it('importing strata registers the built-in drivers', async () => {
    const { registeredDrivers } = (await import('strata')) as { registeredDrivers: () => string[] }
    expect(registeredDrivers()).toEqual(expect.arrayContaining(['native', 'overlay', 'row']))
  })
})
