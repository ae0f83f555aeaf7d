/**
 * fs/: file-system helpers every driver shares: DirFs (a directory as a
 * SnapshotFs), CheckedFs (the argument checks of any SnapshotFs, once), path
 * rules and the chroot resolver, copy, disk usage, device nodes, kernel
 * mounts, safe tree removal. Imports core/ only.
 */
export { CheckedFs, CheckedHandle, type NodeType } from './checked.js'
export { copyTree } from './copytree.js'
export { DirFs, type DirFsOptions, toFileStat } from './dirfs.js'
export { diskUsage } from './diskusage.js'
export { isMountPoint, MountError, mountAll, mountsUnder, unmount, unmountUnder, withMount } from './mount.js'
export { type PathLookup, resolveInRoot, splitPath, type Walked } from './path.js'
export { withMountedFs, withOpen } from './open.js'
export { removeTree } from './removetree.js'
