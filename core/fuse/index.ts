/** A FUSE server for any SnapshotFs, on the kernel protocol itself (no libfuse, no native addon). */
export { FuseServer, type ServeOptions } from './server.js'
export { unmountFuse } from './session.js'
