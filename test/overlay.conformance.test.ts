import { fileURLToPath } from 'node:url'
import { conformance } from '../conformance/index.js'
import { createOverlaySnapshotter } from '../drivers/overlay/index.js'

conformance('overlay', (root) => createOverlaySnapshotter(root), {
  child: { module: fileURLToPath(new URL('./fixtures/drivers/overlay.js', import.meta.url)) },
  deepChains: [500],
})
