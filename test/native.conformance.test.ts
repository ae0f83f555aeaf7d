import { fileURLToPath } from 'node:url'
import { conformance } from '../conformance/index.js'
import { createNativeSnapshotter } from '../drivers/native/index.js'

conformance('native', (root) => createNativeSnapshotter(root), {
  child: { module: fileURLToPath(new URL('./fixtures/drivers/native.js', import.meta.url)) },
})
