/**
 * registry/: images from and to an OCI distribution registry. `pullImage`
 * streams a registry image into the store as `importImage` does for files;
 * `pushImage` sends an image of the store to a repository (HEAD, mount, or
 * exportDiff + gzip). A small client on Node's fetch: references as docker
 * reads them, bearer and basic auth, retries, Range resumes.
 * Imports image/, layers/, fs/ and core/.
 */
export { type ClientOptions, RegistryClient } from './client.js'
export type { Credentials } from './credentials.js'
export { isRegistryError, RegistryError, type RegistryStep } from './errors.js'
export type { Platform } from './manifest.js'
export { type PullOptions, type PullProgress, type PullResult, pullImage } from './pull.js'
export { type LayerPush, type PushOptions, type PushProgress, type PushResult, pushImage } from './push.js'
export { formatReference, parseReference, type Reference } from './reference.js'
