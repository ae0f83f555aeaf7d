/** The busybox image builder lives with the crash disk, which the build compiles; the tests share it. */
export { buildBusyboxImage } from '../../crashdisk/busybox.js'
