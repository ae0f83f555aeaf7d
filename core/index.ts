/**
 * core/: the contract (snapshotter.ts), the error vocabulary, the backend
 * wrapper that implements every snapshotter rule once (backed.ts), the
 * metastore, the store and its lock, filters, validation, the driver
 * registry. Imports nothing outside core/; knows no driver.
 */
export type { Backend, BackendFactory, SnapshotRef } from './backend.js'
export { BackedSnapshotter, type Extension, extensionOf, type OpenOptions, openBackedSnapshotter } from './backed.js'
export { cleanupAfter, errnoCode, type PosixCode, type PosixError, posixError, unlessMissing } from './errors.js'
export { type Filter, parseFilters, type Selector } from './filters.js'
export { Store, type StoreOptions, type Sublevel, Transaction } from './store.js'
