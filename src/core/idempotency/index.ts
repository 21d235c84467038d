export {
  createIdempotencyStore,
  idempotencyRequestHash,
  DEFAULT_IDEMPOTENCY_TTL_MS,
  type BeginResult,
  type IdempotencyOptions,
  type IdempotencyScope,
  type IdempotencyStore,
  type IdempotentReplay,
  type WaitResult,
} from "./idempotency";
