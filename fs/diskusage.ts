/**
 * What a directory tree occupies: allocated blocks (st_blocks × 512, not
 * apparent size) and inodes, each hard-linked inode once, the root included.
 */
import * as fs from 'node:fs'
import { join } from 'node:path'
import type { Usage } from '../core/snapshotter.js'
import { Yielder } from './yielder.js'

export async function diskUsage(dir: string): Promise<Usage> {
  const seen = new Set<string>()
  const usage: Usage = { size: 0, inodes: 0 }
  const yielder = new Yielder()
  const stack = [dir]
  while (stack.length > 0) {
    const path = stack.pop()!
    let st: fs.Stats
    try {
      st = fs.lstatSync(path)
    } catch (err) {
      // A running container may delete files while we count.
      if ((err as { code?: string }).code === 'ENOENT') continue
      throw err
    }
    const id = `${st.dev}:${st.ino}`
    if (st.nlink > 1 || st.isDirectory()) {
      if (seen.has(id)) continue
      seen.add(id)
    }
    usage.inodes++
    usage.size += st.blocks * 512
    if (st.isDirectory()) {
      try {
        for (const name of fs.readdirSync(path)) stack.push(join(path, name))
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') throw err
      }
    }
    await yielder.maybeYield()
  }
  return usage
}
