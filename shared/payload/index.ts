export { aesGcmCodec, type KeyRing, parseKeyRing, readKeyRingFile } from './aes-gcm.js';
export {
  BLOB_CHUNK_BYTES,
  type BlobBackend,
  type BlobRef,
  checkPayloadSize,
  defaultPayloadLimits,
  isBlobRef,
  loadLarge,
  memoryBlobBackend,
  offloadLarge,
  type PayloadLimits,
  readBlobRef,
} from './blobs.js';
export {
  installedPayloadCodecs,
  isSealed,
  openPayload,
  type PayloadCodec,
  payloadsConcealed,
  SEALED_MARK,
  sealPayload,
  usePayloadCodecs,
} from './codec.js';
export { type PayloadCodecSettings, payloadCodecsFrom } from './config.js';
export { type DeflateOptions, deflateCodec } from './deflate.js';
