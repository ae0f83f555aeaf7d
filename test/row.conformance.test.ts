import { fileURLToPath } from 'node:url'
import { conformance } from '../conformance/index.js'
import { createRowSnapshotter } from '../drivers/row/index.js'

conformance('row', (root) => createRowSnapshotter(root), {
  child: { module: fileURLToPath(new URL('./fixtures/drivers/row.js', import.meta.url)) },
  deepChains: [500],
})
