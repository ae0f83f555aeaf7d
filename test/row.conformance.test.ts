import { conformance } from '../conformance/index.js'
import { createRowSnapshotter } from '../drivers/row/index.js'

conformance('row', (root) => createRowSnapshotter(root), { child: { driver: 'row' }, deepChains: [500] })
