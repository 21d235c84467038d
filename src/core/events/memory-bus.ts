// The embedded default: one process, no Redis. Delivery is on a microtask, like the Redis bus delivers on a
// later tick, so no caller depends on a listener running inside publish().
import { logger } from "../log/logger";
import { type EventBus, ListenerTable } from "./bus";

const log = logger.child({ module: "events", bus: "memory" });

export function createMemoryEventBus(): EventBus {
  const listeners = new ListenerTable((err, event) => log.error({ err, event: event.type }, "event listener failed"));
  return {
    async publish(event) {
      queueMicrotask(() => listeners.dispatch(event));
    },
    subscribe: (type, listener) => listeners.add(type, listener),
    health: async () => "not_configured",
    close: async () => {},
  };
}
