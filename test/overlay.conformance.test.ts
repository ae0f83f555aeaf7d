import { conformance } from '../conformance/index.js'
import { createOverlaySnapshotter } from '../drivers/overlay/index.js'

conformance('overlay', (root) => createOverlaySnapshotter(root), { child: { driver: 'overlay' }, deepChains: [500] })
