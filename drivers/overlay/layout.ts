/**
 * Where an overlay snapshot lives on disk: Docker's overlay2 layout, with
 * numeric ids for directories and base-36 short names for the `l/` links.
 *
 *   <root>/overlay2/<id>/diff/       the snapshot's own changes (upperdir while active)
 *   <root>/overlay2/<id>/work/       overlay workdir (actives with a parent)
 *   <root>/overlay2/<id>/merged/     mount point while open() holds it
 *   <root>/overlay2/<id>/link        its short name
 *   <root>/overlay2/<id>/lower       l/<short>:l/<short>:… nearest parent first
 *   <root>/overlay2/<id>/committed   written into a parent when a child is made
 *   <root>/overlay2/l/<short>        -> ../<id>/diff
 *
 * Docker's 26-character random short names keep 128 lowers within a page of
 * mount data; base-36 ids (core hands them out and never reuses them) have at
 * most 5 characters for the first 60 million snapshots, which keeps 500
 * lowers in a page (see `mountopts.ts`).
 */
import { join } from 'node:path'

export const LINK_DIR = 'l'

/** The short name of a snapshot id: its base-36 digits. */
export function shortName(id: string): string {
  return BigInt(id).toString(36)
}

/** The `lower` file's content: relative `l/<short>` entries, nearest parent first. */
export function lowerList(parentIds: string[]): string {
  return parentIds.map((id) => `${LINK_DIR}/${shortName(id)}`).join(':')
}

/** The id a link target `../<id>/diff` points to, or undefined when it is not one of ours. */
export function idOfLinkTarget(target: string): string | undefined {
  const m = /^\.\.\/(\d+)\/diff$/.exec(target)
  return m ? m[1] : undefined
}

export class Layout {
  /** `<root>/overlay2`: the driver's home, the working directory of long mounts. */
  readonly home: string

  constructor(root: string) {
    this.home = join(root, 'overlay2')
  }

  get links(): string {
    return join(this.home, LINK_DIR)
  }

  dir(id: string): string {
    return join(this.home, id)
  }

  diff(id: string): string {
    return join(this.home, id, 'diff')
  }

  work(id: string): string {
    return join(this.home, id, 'work')
  }

  merged(id: string): string {
    return join(this.home, id, 'merged')
  }

  linkFile(id: string): string {
    return join(this.home, id, 'link')
  }

  lowerFile(id: string): string {
    return join(this.home, id, 'lower')
  }

  committedMarker(id: string): string {
    return join(this.home, id, 'committed')
  }

  /** `<home>/l/<short>`: the path mounts name a lower layer by. */
  link(id: string): string {
    return join(this.links, shortName(id))
  }

  /** What `l/<short>` points to, relative as Docker writes it. */
  linkTarget(id: string): string {
    return `../${id}/diff`
  }
}
