export { CollectiveError, type CollectiveErrorCode } from './collective-error.js';
export { type ChunkHeader, type DecodedChunk, decodeRingChunk, encodeRingChunk, MAX_HEADER_BYTES } from './chunk-codec.js';
export { RingLayout } from './ring-layout.js';
export { DEFAULT_RING_OPTIONS, MAX_CHUNK_BYTES, type RingOptions } from './ring-options.js';
export type { RingAbort, RingSide, RingTransport, RingTransportHandlers } from './ring-transport.js';
export {
  type BroadcastCallOptions,
  type CollectiveCallOptions,
  type CollectiveStats,
  Ring,
  type RingConfig,
} from './ring.js';
export {
  type MemoryInterception,
  type MemoryMessage,
  MemoryRingNetwork,
  type MemoryRingNetworkOptions,
} from './memory-transport.js';
export { RING_METADATA, RingEndpoint, type RingEndpointOptions, type RingLogger } from './grpc-endpoint.js';
export { type RingConnectConfig } from './ring-connect.js';
export { NetRingEndpoint } from './net-endpoint.js';
