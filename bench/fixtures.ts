/**
 * Deterministic content for the benchmarks, written through SnapshotFs so
 * every driver receives exactly the same bytes in the same calls.
 */
import { createHash } from 'node:crypto'
import type { SnapshotFs, Snapshotter } from '../core/snapshotter.js'
import { prng } from '../conformance/crash-model.js'
import { withOpen } from '../fs/open.js'

export const KiB = 1024
export const MiB = 1024 * KiB
export const GiB = 1024 * MiB

/** mulberry32 (the crash model's): the same seed gives the same tree on every machine. */
export { prng }

/** Incompressible bytes derived from a seed: a PRNG fills 32-bit words (fast enough not to be the benchmark). */
export function bytes(seed: string, size: number): Buffer {
  const words = new Uint32Array(Math.ceil(size / 4))
  let a = createHash('sha256').update(seed).digest().readUInt32LE(0)
  for (let i = 0; i < words.length; i++) {
    a = (a + 0x6d2b79f5) >>> 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    words[i] = (t ^ (t >>> 14)) >>> 0
  }
  return Buffer.from(words.buffer, 0, size)
}

const CHUNK = 4 * MiB

/** Writes a large file in chunks, never holding it whole. */
export async function writeBigFile(fs: SnapshotFs, path: string, size: number, seed: string): Promise<void> {
  const fh = await fs.open(path, 'w')
  try {
    const chunk = bytes(seed, Math.min(CHUNK, size))
    for (let off = 0; off < size; off += CHUNK) {
      const n = Math.min(CHUNK, size - off)
      await fh.write(chunk, 0, n, off)
    }
  } finally {
    await fh.close()
  }
}

export interface TreeSpec {
  /** Small files, sizes spread between 1 KiB and 16 KiB. */
  files: number
  /** Large files and their size. */
  large: number
  largeSize: number
  seed: number
}

/** The tree's total apparent size. */
export function treeBytes(spec: TreeSpec): number {
  const rand = prng(spec.seed)
  let total = spec.large * spec.largeSize
  for (let i = 0; i < spec.files; i++) total += smallSize(rand)
  return total
}

function smallSize(rand: () => number): number {
  return KiB + Math.floor(rand() * 15 * KiB)
}

/** A tree shaped like a root filesystem: 100 files a directory, a few large files. */
export async function writeTree(fs: SnapshotFs, spec: TreeSpec): Promise<void> {
  const rand = prng(spec.seed)
  for (let i = 0; i < spec.files; i++) {
    const dir = `/usr/d${Math.floor(i / 100)}`
    if (i % 100 === 0) await fs.mkdir(dir, { recursive: true })
    await fs.writeFile(`${dir}/f${i}`, bytes(`f${spec.seed}-${i}`, smallSize(rand)))
  }
  if (spec.large > 0) await fs.mkdir('/big', { recursive: true })
  for (let i = 0; i < spec.large; i++) await writeBigFile(fs, `/big/b${i}`, spec.largeSize, `b${spec.seed}-${i}`)
}

/** A tree of about `size` bytes: 90% in large files, the rest in small ones. */
export function treeOfSize(size: number, seed = 1): TreeSpec {
  const files = Math.max(10, Math.round((size * 0.1) / (8.5 * KiB)))
  const large = Math.max(1, Math.round(size / (64 * MiB)))
  return { files, large, largeSize: Math.round((size * 0.9) / large), seed }
}

/** A committed snapshot holding `spec`, named `name`. */
export async function committedTree(sn: Snapshotter, name: string, spec: TreeSpec, parent?: string): Promise<void> {
  await sn.prepare(`${name}-build`, parent)
  await withOpen(sn, `${name}-build`, (fs) => writeTree(fs, spec))
  await sn.commit(name, `${name}-build`)
}
