/**
 * Opaque directories of a diff/ tree: those whose `trusted.overlay.opaque`
 * xattr is "y" (the kernel's mark for "hide what the lower layers have
 * here"). Node has no xattr API, so one getfattr(1) process (Debian package
 * `attr`) reads the flag of every entry of the tree and prints only the
 * directories that carry it.
 */
import { execFile } from 'node:child_process'
import { relative } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const OPAQUE_XATTR = 'trusted.overlay.opaque'

/** getfattr prints a name's non-printable bytes and backslashes as \ooo. */
function unescapeGetfattr(raw: Buffer): string {
  const bytes: number[] = []
  for (let i = 0; i < raw.length; i++) {
    const oct = raw[i] === 0x5c ? /^[0-7]{3}$/.exec(raw.subarray(i + 1, i + 4).toString('latin1')) : null
    if (oct) {
      bytes.push(parseInt(oct[0], 8))
      i += 3
    } else {
      bytes.push(raw[i])
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/** Parses `getfattr -d` output into the paths whose flag is "y". */
export function parseOpaqueDump(out: Buffer): string[] {
  const found: string[] = []
  let file: string | undefined
  let start = 0
  while (start < out.length) {
    let end = out.indexOf(0x0a, start)
    if (end < 0) end = out.length
    const line = out.subarray(start, end)
    start = end + 1
    const text = line.toString('latin1')
    if (text.startsWith('# file: ')) file = unescapeGetfattr(line.subarray('# file: '.length))
    else if (file !== undefined && text === `${OPAQUE_XATTR}="y"`) found.push(file)
  }
  return found
}

/** Paths (relative to `dir`, '' for `dir` itself) of the opaque directories under `dir`. */
export async function opaqueDirs(dir: string): Promise<Set<string>> {
  let stdout: Buffer
  try {
    ;({ stdout } = await run(
      'getfattr',
      ['-R', '-h', '-P', '--absolute-names', '-d', '-m', `^${OPAQUE_XATTR.replace(/\./g, '\\.')}$`, '-e', 'text', dir],
      { encoding: 'buffer', maxBuffer: 256 << 20 },
    ))
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') {
      throw new Error('reading overlay opaque directories needs getfattr(1): install the "attr" package', { cause: err })
    }
    throw err
  }
  return new Set(parseOpaqueDump(stdout).map((p) => relative(dir, p)))
}
