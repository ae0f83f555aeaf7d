import { conformance } from '../conformance/index.js'
import { createNativeSnapshotter } from '../drivers/native/index.js'

conformance('native', (root) => createNativeSnapshotter(root), { child: { driver: 'native' } })
