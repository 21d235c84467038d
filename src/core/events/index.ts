// The event bus port (./bus.ts) and its two implementations: in-process (embedded default) and Redis pub/sub.
export type {
  BusHealth,
  EventBus,
  EventListener,
  EventOf,
  GatehouseEvent,
  GatehouseEventType,
} from "./bus";
export { createMemoryEventBus } from "./memory-bus";
export { createRedisEventBus, eventChannel, parseEvent, type RedisEventBusOptions } from "./redis-bus";
