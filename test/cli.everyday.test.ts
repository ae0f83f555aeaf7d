/** What a person reads from the CLI: --version, errors (one line, one code, JSON under --json), a closed pipe. */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { errorLine } from '../cli/errorline.js'
import { NotFoundError } from '../core/errors.js'
import { strataCli } from './helpers/cli.js'

let root: string
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'strata-everyday-'))
})
afterEach(() => rm(root, { recursive: true, force: true }))

describe('what the CLI prints', () => {
  it('--version prints the package version and --help lists -q and --version', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { version: string }
    expect((await strataCli(['--version'])).stdout).toBe(`strata ${pkg.version}\n`)
    const help = (await strataCli(['--help'])).stdout
    expect(help).toContain('[-q|--quiet]')
    expect(help).toContain('strata --version')
  })

  it('an error names its code once, also when the message starts with it', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })
    expect(errorLine('import', enospc, false)).toBe('strata import: ENOSPC: no space left on device, write\n')
    expect(errorLine('rm', new NotFoundError('snapshot "x" does not exist'), false)).toBe(
      'strata rm: ERR_NOT_FOUND: snapshot "x" does not exist\n',
    )
  })

  it('under --json an error is one JSON object on stderr', async () => {
    const r = await strataCli(['--root', root, '--driver', 'native', '--json', 'info', 'nope'])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(JSON.parse(r.stderr)).toMatchObject({ command: 'info', code: 'ERR_NOT_FOUND', message: expect.stringContaining('"nope"') })
  })

  it('strata ls | head -1 ends quietly, without an EPIPE stack trace', async () => {
    const cli = (...args: string[]) => strataCli(['--root', root, '--driver', 'native', ...args])
    await cli('prepare', 'k1')
    const main = resolve('dist/cli/main.js')
    // head -0 exits before node has written: every write meets a closed pipe.
    for (const args of [`--root ${root} ls`, '--help']) {
      const r = spawnSync('sh', ['-c', `node ${main} ${args} | head -0; echo "exit $?"`], { encoding: 'utf8' })
      expect(r.stderr).toBe('')
    }
  })

  it('read-only commands on a root that does not exist say so and create nothing', async () => {
    const typo = join(root, 'typo')
    for (const args of [['ls'], ['tree'], ['info', 'k'], ['usage'], ['images'], ['check'], ['ps']]) {
      const r = await strataCli(['--root', typo, ...args])
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stderr).toBe(
        `strata ${args[0]}: ERR_NOT_FOUND: no store at ${typo} (check --root or $STRATA_ROOT; a command that writes makes one)\n`,
      )
    }
    expect(existsSync(typo)).toBe(false)
  })

  it('apply of empty input fails with ERR_INVALID_ARGUMENT and leaves the snapshot empty', async () => {
    const cli = (args: string[], input?: Buffer) =>
      strataCli(['--root', root, '--driver', 'native', ...args], input === undefined ? {} : { input })
    await cli(['prepare', 'k'])
    const r = await cli(['apply', 'k'], Buffer.alloc(0))
    expect(r.code).toBe(1)
    expect(r.stderr).toBe('strata apply: ERR_INVALID_ARGUMENT: the layer is empty (0 bytes): not a tar archive\n')
    expect((await cli(['usage', 'k'])).stdout).toMatch(/^k\s+\S+ \S+\s+1$/m)
  })

  it('benchmark (and lodash) are dev dependencies: only strata bench needs them, and it loads them lazily', async () => {
    const pkg = JSON.parse(await readFile('package.json', 'utf8')) as { dependencies: Record<string, string> }
    expect(Object.keys(pkg.dependencies)).not.toContain('benchmark')
    expect(Object.keys(pkg.dependencies)).not.toContain('lodash')
    expect(await readFile('cli/commands/bench.ts', 'utf8')).not.toMatch(/^import .*bench\/main/m)
    const r = await strataCli(['bench', '--only', 'nope'])
    expect(r.stderr).toMatch(/^strata bench: unknown scenario nope \(.+\)\n$/)
  })

  it('prepare on a driver without kernel mounts prints no mount command that cannot work', async () => {
    const r = await strataCli(['--root', root, '--driver', 'row', 'prepare', 'k'])
    expect(r.code).toBe(0)
    expect(r.stdout).not.toMatch(/^mount /m)
    // Without root row has no mount at all; as root its FUSE mount is served by the command's own process.
    expect(r.stdout).toMatch(/^# no kernel mount/)
  })

  it('importing a file that is not an archive prints one line, no stack trace', async () => {
    const notTar = join(root, 'notes.txt')
    await writeFile(notTar, 'hello\n')
    const r = await strataCli(['--root', join(root, 'store'), '--driver', 'native', 'import', notTar])
    expect(r.code).toBe(1)
    expect(r.stderr).toBe(`strata import: ERR_INVALID_ARGUMENT: ${notTar} is not a readable tar archive: Unexpected end of data\n`)
  })
})
