// The event bus port (./bus.ts) and its two implementations: in-process (embedded default) and Redis pub/sub.
export {
  type BusHealth,
  type EventBus,
  type EventListener,
  type EventOf,
  type GatehouseEvent,
  type GatehouseEventType,
} from "./bus";
export { createMemoryEventBus } from "./memory-bus";
export { createRedisEventBus, eventChannel, parseEvent, type RedisEventBusOptions } from "./redis-bus";
