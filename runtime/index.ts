/**
 * runtime/: the container prototype behind `strata run`, modelled on Docker
 * with overlay2: the init layer, the OCI bundle and its config, runc or crun,
 * containers recorded as labelled snapshots. `strata/runtime` exports what a
 * runtime author reuses. Imports image/, layers/, fs/ and core/; never cli/.
 */
export { type ContainerConfig, containerConfigOf, ociSpec, type SpecInput, writeBundle } from './bundle.js'
export { type CommitResult, commitContainer } from './commit.js'
export { type Container, findContainer, listContainers, removeContainer } from './containers.js'
export { type InitFiles, makeInitLayer, writeInitFiles } from './initlayer.js'
export { findRuntime, runBundle } from './ociruntime.js'
export { type RunHost, type RunRequest, runContainer } from './run.js'
