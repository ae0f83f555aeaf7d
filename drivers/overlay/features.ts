/**
 * What this kernel's overlayfs needs to be told so that every mount writes
 * the same on-disk format into diff/, whatever the distribution's defaults:
 *
 * - `index=off`: the inode index would tie a layer to the mount that made it
 *   and refuses a second mount of the same upper (Docker, containerd).
 * - `redirect_dir=off`: a directory renamed inside a mount would leave a
 *   `trusted.overlay.redirect` xattr in diff/ that only overlayfs understands;
 *   off, the kernel answers EXDEV and the rename becomes a copy (as `mv` does).
 * - `metacopy=off`: a chmod would copy up metadata only and leave a
 *   `trusted.overlay.metacopy` file whose data lives in a lower layer.
 *
 * Each option is added only when the kernel has the parameter (older kernels
 * reject options they do not know).
 */
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export const OVERLAY_PARAMETERS = '/sys/module/overlay/parameters'

/** The kernel's limit on lower layers in one overlay mount (OVL_MAX_STACK). */
export const MAX_LOWERS = 500

const PINNED: Array<[parameter: string, option: string]> = [
  ['index', 'index=off'],
  ['redirect_dir', 'redirect_dir=off'],
  ['metacopy', 'metacopy=off'],
]

/** The format-pinning options this kernel accepts, in a fixed order. */
export function pinnedOptions(parameters = OVERLAY_PARAMETERS): string[] {
  return PINNED.filter(([p]) => existsSync(join(parameters, p))).map(([, option]) => option)
}
