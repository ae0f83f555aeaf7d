/**
 * image/: container images. Import an OCI image layout or a `docker save`
 * archive (every layer verified and committed under its ChainID), and the
 * store of image records (name, config, DiffIDs).
 * Imports layers/, fs/ and core/.
 */
export { type ImportOptions, type ImportProgress, type ImportResult, importImage, openImage } from './import.js'
export type { ImageConfig, ImageSource, LayerBlob, SelectOptions } from './source.js'
export { type DistributionRecord, type ImageRecord, type ImageStore, imagesOf, type LayerBlobRecord } from './store.js'
export { assertNoImageUses, checkImages, imagesUsing, type RemoveImageResult, removeImage } from './remove.js'
