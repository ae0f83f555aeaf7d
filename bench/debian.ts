/**
 * A real image for the import scenario: Debian bookworm minbase, built once
 * with debootstrap from the mirror apt on this machine uses, layered with
 * umoci and written as a docker-archive by skopeo, then kept in the bench's
 * cache directory (STRATA_BENCH_CACHE, default ~/.cache/strata-bench).
 *
 * The three layers, as Debian's own images and a typical Dockerfile on top:
 *   1 the debootstrap tree without docs, man pages, locales, apt's lists
 *     and downloaded .debs (Debian's images leave the last two out too);
 *   2 /usr/share/doc, /usr/share/man and /usr/share/locale;
 *   3 a small change: man pages and info deleted again (whiteouts), the
 *     logs removed, /etc/hostname replaced, one apt.conf.d file added.
 */
import { execFile } from 'node:child_process'
import { createReadStream, existsSync, readFileSync, readdirSync } from 'node:fs'
import { mkdir, rename, rm, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { promisify } from 'node:util'
import tarStream from 'tar-stream'

const run = promisify(execFile)
const SUITE = 'bookworm'
const FALLBACK_MIRROR = 'http://deb.debian.org/debian'

export function benchCacheDir(): string {
  return process.env.STRATA_BENCH_CACHE ?? join(homedir(), '.cache', 'strata-bench')
}

/** The Debian mirror apt uses here (deb822 .sources or one-line sources.list), else deb.debian.org. */
export function aptMirror(): string {
  const files = ['/etc/apt/sources.list']
  const dir = '/etc/apt/sources.list.d'
  if (existsSync(dir)) for (const f of readdirSync(dir)) if (f.endsWith('.sources') || f.endsWith('.list')) files.push(join(dir, f))
  for (const f of files) {
    if (!existsSync(f)) continue
    const text = readFileSync(f, 'utf8')
    for (const stanza of text.split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1]
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? []
      if (uri && suites.includes(SUITE) && !/security/.test(uri)) return uri
    }
    const line = new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${SUITE}\\s`, 'm').exec(text)
    if (line && !/security/.test(line[1])) return line[1]
  }
  return FALLBACK_MIRROR
}

export interface DebianImage {
  /** The docker-archive. */
  archive: string
  /** Bytes of regular-file content over the three layers (a hard link counted once): what a store must hold. */
  contentBytes: number
  /** Paths over the three layers (tar entries). */
  entries: number
}

/** Regular-file bytes and entry count of one plain tar. */
async function tarContent(stream: AsyncIterable<Buffer>): Promise<{ bytes: number; entries: number }> {
  const extract = tarStream.extract()
  let bytes = 0
  let entries = 0
  Readable.from(stream).pipe(extract)
  for await (const entry of extract) {
    entries++
    if (entry.header.type === 'file') bytes += entry.header.size ?? 0
    entry.resume()
  }
  return { bytes, entries }
}

/** Sizes of the layers inside a docker-archive (each layer is a plain tar member). */
async function archiveContent(archive: string): Promise<{ bytes: number; entries: number }> {
  const extract = tarStream.extract()
  createReadStream(archive).pipe(extract)
  let bytes = 0
  let entries = 0
  for await (const member of extract) {
    if (member.header.type === 'file' && /\.tar$/.test(member.header.name)) {
      const c = await tarContent(member as unknown as AsyncIterable<Buffer>)
      bytes += c.bytes
      entries += c.entries
    } else {
      member.resume()
    }
  }
  return { bytes, entries }
}

async function sh(script: string, env: Record<string, string>): Promise<void> {
  await run('sh', ['-euc', script], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 })
}

/** The cached image, built first if missing (needs root, debootstrap, umoci, skopeo and the network once). */
export async function debianImage(progress: (msg: string) => void = () => {}): Promise<DebianImage> {
  const dir = join(benchCacheDir(), `debian-${SUITE}-minbase`)
  const archive = join(dir, 'debian.tar')
  const meta = join(dir, 'debian.json')
  if (existsSync(archive) && existsSync(meta))
    return { archive, ...(JSON.parse(readFileSync(meta, 'utf8')) as Omit<DebianImage, 'archive'>) }
  await mkdir(dir, { recursive: true })
  const work = join(dir, 'work')
  await rm(work, { recursive: true, force: true })
  await mkdir(work)
  const rootfs = join(work, 'rootfs')
  const mirror = aptMirror()
  progress(`debian: debootstrap --variant=minbase ${SUITE} from ${mirror}`)
  await run('debootstrap', ['--variant=minbase', SUITE, rootfs, mirror], { maxBuffer: 64 << 20 })
  progress('debian: three layers with umoci, a docker-archive with skopeo')
  await sh(
    `
    cd "$W"
    umoci init --layout oci
    umoci new --image oci:debian
    umoci unpack --image oci:debian bundle >/dev/null
    B=bundle/rootfs
    tar -C rootfs --exclude=./usr/share/doc --exclude=./usr/share/man --exclude=./usr/share/locale \
      --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/archives/*.deb' -cf - . | tar -C $B -xpf -
    umoci repack --refresh-bundle --image oci:debian bundle
    tar -C rootfs -cf - ./usr/share/doc ./usr/share/man ./usr/share/locale | tar -C $B -xpf -
    umoci repack --refresh-bundle --image oci:debian bundle
    rm -rf $B/usr/share/man $B/usr/share/info $B/var/log/*.log
    echo strata-bench > $B/etc/hostname
    printf 'APT::Install-Recommends "false";\\n' > $B/etc/apt/apt.conf.d/90strata-bench
    umoci repack --refresh-bundle --image oci:debian bundle
    umoci config --image oci:debian --config.cmd /bin/bash
    skopeo copy -q oci:oci:debian docker-archive:debian.tar:strata.bench/debian:${SUITE}
    `,
    { W: work },
  )
  const content = await archiveContent(join(work, 'debian.tar'))
  await rename(join(work, 'debian.tar'), archive)
  await writeFile(meta, JSON.stringify({ contentBytes: content.bytes, entries: content.entries }) + '\n')
  await rm(work, { recursive: true, force: true })
  return { archive, contentBytes: content.bytes, entries: content.entries }
}
