/**
 * Pull from a loopback registry, side by side in one run: `strata pull`
 * (overlay and native drivers) beside `ctr images pull --plain-http`
 * (containerd 1.6, a private daemon, overlayfs and native snapshotters) and
 * `skopeo copy` to an OCI layout + `strata import`. The image: four gzip
 * layers of random files (about 100 MB compressed; random so gzip cannot
 * shrink the transfer), pushed to a private Debian docker-registry by
 * skopeo. Each measurement starts from an empty store (or a fresh daemon)
 * and ends when the image is unpacked; rounds alternate the tools so the
 * machine's drift lands on all of them. Prints the medians and the ratios.
 *
 *   npm run bench:registry [-- --rounds N --mb M]
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parseArgs } from 'node:util'
import '../index.js'
import { openSnapshotter } from '../core/registry.js'
import { importImage } from '../image/import.js'
import { pullImage } from '../registry/pull.js'
import { Daemon } from './peer/containerd.js'

const run = promisify(execFile)

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

async function startRegistry(dir: string): Promise<{ host: string; proc: ChildProcess }> {
  const host = `127.0.0.1:${await freePort()}`
  await mkdir(join(dir, 'data'), { recursive: true })
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    'http:',
    `  addr: ${host}`,
  ].join('\n')
  await writeFile(join(dir, 'config.yml'), `${config}\n`)
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: 'ignore' })
  for (let i = 0; i < 200; i++) {
    if (
      await fetch(`http://${host}/v2/`).then(
        () => true,
        () => false,
      )
    )
      return { host, proc }
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error('docker-registry did not start')
}

/** Four layers of random files, `mb` MB in all, built by umoci. */
async function buildImage(dir: string, mb: number): Promise<string> {
  const layout = join(dir, 'oci')
  await run('umoci', ['init', '--layout', layout])
  await run('umoci', ['new', '--image', `${layout}:bench`])
  const perLayer = Math.ceil((mb * 2 ** 20) / 4)
  for (let l = 0; l < 4; l++) {
    const bundle = join(dir, `bundle-${l}`)
    await run('umoci', ['unpack', '--image', `${layout}:bench`, bundle])
    const d = join(bundle, 'rootfs', `layer${l}`)
    await mkdir(d, { recursive: true })
    const file = 256 * 1024
    for (let i = 0; i * file < perLayer; i++) await writeFile(join(d, `f${i}`), randomBytes(file))
    await run('umoci', ['repack', '--image', `${layout}:bench`, bundle])
    await rm(bundle, { recursive: true })
  }
  return layout
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t) / 1e9
}

type Tool = { name: string; once: (work: string) => Promise<number> }

function tools(ref: string): Tool[] {
  const strataPull = (driver: string): Tool => ({
    name: `strata pull (${driver})`,
    once: async (work) => {
      const sn = await openSnapshotter(driver, join(work, 'store'))
      try {
        return await timed(async () => {
          await pullImage(sn, ref, { plainHttp: true })
        })
      } finally {
        await sn.close()
      }
    },
  })
  const ctrPull = (snapshotter: string): Tool => ({
    name: `ctr images pull (${snapshotter})`,
    once: async (work) => {
      const daemon = await Daemon.start(join(work, 'containerd'))
      try {
        return await timed(async () => {
          await daemon.ctr(['images', 'pull', '--plain-http', '--snapshotter', snapshotter, ref])
        })
      } finally {
        await daemon.stop()
      }
    },
  })
  const skopeoImport: Tool = {
    name: 'skopeo copy + strata import (overlay)',
    once: async (work) => {
      const sn = await openSnapshotter('overlay', join(work, 'store'))
      try {
        return await timed(async () => {
          await run('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(work, 'copy')}:bench`])
          await importImage(sn, join(work, 'copy'), { ref: 'bench' })
        })
      } finally {
        await sn.close()
      }
    },
  }
  return [strataPull('overlay'), ctrPull('overlayfs'), strataPull('native'), ctrPull('native'), skopeoImport]
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rounds: { type: 'string' }, mb: { type: 'string' } } })
  const rounds = Number(values.rounds ?? 3)
  const mb = Number(values.mb ?? 100)
  const dir = await mkdtemp(join(tmpdir(), 'strata-bench-registry-'))
  const registry = await startRegistry(join(dir, 'registry'))
  try {
    const layout = await buildImage(dir, mb)
    const ref = `${registry.host}/bench/image:bench`
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${ref}`])
    const list = tools(ref)
    const times = new Map<string, number[]>(list.map((t) => [t.name, []]))
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? list : [...list].reverse()
      for (const tool of order) {
        const work = await mkdtemp(join(dir, 'w-'))
        try {
          const s = await tool.once(work)
          times.get(tool.name)?.push(s)
          process.stderr.write(`round ${r + 1}: ${tool.name} ${s.toFixed(2)} s\n`)
        } finally {
          await run('umount', ['-R', work]).catch(() => {})
          await rm(work, { recursive: true, force: true })
        }
      }
    }
    const m = (name: string): number => median(times.get(name) ?? [])
    console.log(`pull of a ${mb} MB 4-layer image from a loopback docker-registry, median of ${rounds} (seconds)`)
    for (const t of list) console.log(`  ${t.name.padEnd(40)} ${m(t.name).toFixed(2)}`)
    console.log(
      `  ratio strata pull / ctr pull, overlay vs overlayfs: ${(m('strata pull (overlay)') / m('ctr images pull (overlayfs)')).toFixed(2)}x`,
    )
    console.log(
      `  ratio strata pull / ctr pull, native vs native:     ${(m('strata pull (native)') / m('ctr images pull (native)')).toFixed(2)}x`,
    )
    console.log(
      `  ratio strata pull / skopeo copy + strata import:     ${(m('strata pull (overlay)') / m('skopeo copy + strata import (overlay)')).toFixed(2)}x`,
    )
  } finally {
    registry.proc.kill('SIGTERM')
    await rm(dir, { recursive: true, force: true })
  }
}

await main()
