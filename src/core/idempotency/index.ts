export {
  createIdempotencyStore,
  idempotencyRequestHash,
  idempotencyRequestHashes,
  DEFAULT_IDEMPOTENCY_TTL_MS,
  type BeginInput,
  type BeginResult,
  type IdempotencyOptions,
  type IdempotencyScope,
  type IdempotencyStore,
  type IdempotentReplay,
  type RequestHashes,
  type WaitResult,
} from "./idempotency";
