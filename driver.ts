/**
 * strata/driver: the toolkit a driver author builds a driver with, exactly as
 * the built-in ones are built. A driver is a Backend (data by id: make, mount,
 * open, measure, drop, list); openBackedSnapshotter wraps it with every
 * snapshotter rule. DirFs serves a directory as a SnapshotFs; CheckedFs is
 * the base that makes any other SnapshotFs check arguments the same way.
 * SPEC.md ("Writing a driver") documents each piece.
 */
export * from './core/index.js'
export * from './fs/index.js'
