#!/usr/bin/env node
/**
 * The import arrows of DESIGN.md, checked on every `npm test`: each package
 * may import only the packages below it. Reads every relative import (static,
 * `export … from` and literal dynamic `import()`) of the TypeScript sources
 * under a root (default: the repository) and prints each edge the rules do
 * not allow. Exit 1 when there is one.
 *
 *   node scripts/check-arch.mjs [ROOT]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What each package may import besides itself. A driver is its own package: drivers/<name>. */
const ALLOWED = {
  core: [],
  fs: ['core'],
  layers: ['core', 'fs'],
  image: ['core', 'fs', 'layers'],
  drivers: ['core', 'fs'],
  conformance: ['core', 'fs'],
  runtime: ['core', 'fs', 'layers', 'image'],
  serve: ['core', 'fs', 'layers', 'image'],
  registry: ['core', 'fs', 'layers', 'image'],
  // The package entry and the tools above the library may use all of it, but never cli/.
  index: ['core', 'fs', 'layers', 'image', 'drivers', 'conformance', 'runtime', 'serve', 'registry'],
  bench: ['index', 'core', 'fs', 'layers', 'image', 'drivers', 'conformance', 'runtime', 'serve', 'registry'],
  examples: ['index', 'runtime'],
  cli: ['index', 'core', 'fs', 'layers', 'image', 'drivers', 'conformance', 'runtime', 'serve', 'registry', 'bench'],
}
const SKIP = new Set(['node_modules', 'dist', 'test', '.git', 'scripts'])

/** The package a repository-relative path belongs to: `drivers/row`, `core`, `index`, … */
function packageOf(rel) {
  const parts = rel.split(sep)
  if (parts.length === 1) return parts[0] === 'index.ts' || parts[0] === 'driver.ts' ? 'index' : undefined
  return parts[0] === 'drivers' ? `drivers/${parts[1]}` : parts[0]
}

function* sources(dir, root) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) {
      if (!SKIP.has(name) || dir !== root) yield* sources(path, root)
    } else if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts') && !name.endsWith('.test.ts')) {
      yield path
    }
  }
}

const IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)'(\.{1,2}\/[^']+)'/g

export function violations(root) {
  const found = []
  for (const file of sources(root, root)) {
    const from = packageOf(relative(root, file))
    if (from === undefined || !(from.split('/')[0] in ALLOWED)) continue
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(IMPORT)) {
      const target = relative(root, resolve(dirname(file), m[1]))
      const to = packageOf(target)
      if (to === undefined || to === from || target.startsWith('..')) continue
      const base = to.split('/')[0]
      const allowed = ALLOWED[from.split('/')[0]]
      const ok = from.startsWith('drivers/') ? base !== 'drivers' && allowed.includes(base) : allowed.includes(base)
      if (!ok) found.push(`${relative(root, file)}: ${from} may not import ${to} (${m[1]})`)
    }
  }
  return found
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'))
  const found = violations(root)
  for (const v of found) console.error(`check-arch: ${v}`)
  if (found.length > 0) {
    console.error(`check-arch: ${found.length} import(s) against the arrows in DESIGN.md`)
    process.exit(1)
  }
  console.log('check-arch: every import follows the arrows')
}
