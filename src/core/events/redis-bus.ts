// The event bus over Redis pub/sub (REDIS_URL): one channel per installation (`{prefix}:events`), one JSON
// message per event. Publishing uses the node's shared Redis client; receiving needs its own connection (a
// subscribed connection can do nothing else), duplicated from it. ioredis re-subscribes after a reconnect.
//
// Latency: a message reaches the other nodes in one Redis round trip (well under a second). Pub/sub is
// at-most-once — a message sent while a node's subscriber is reconnecting is lost — so every consumer keeps
// its own periodic re-check of the shared store (approval waiters re-read every second).
import type { Redis } from "ioredis";
import { logger } from "../log/logger";
import { type BusHealth, type EventBus, type GatehouseEvent, type GatehouseEventType, ListenerTable } from "./bus";

const log = logger.child({ module: "events", bus: "redis" });

const EVENT_TYPES: ReadonlySet<GatehouseEventType> = new Set<GatehouseEventType>([
  "approval.created",
  "approval.decided",
  "approval.expired",
  "token.revoked",
  "manifest.changed",
  "mcp.session.deleted",
]);

export interface RedisEventBusOptions {
  /** The node's Redis client; the bus duplicates it for its subscriber connection and never closes it. */
  redis: Redis;
  /** Key/channel prefix (GATEHOUSE_REDIS_PREFIX); tests use a unique one so parallel runs never hear each other. */
  prefix: string;
  /** How long a health PING may take before the bus counts as disconnected. */
  probeTimeoutMs?: number;
}

export function eventChannel(prefix: string): string {
  return `${prefix}:events`;
}

/** The event in a message, or undefined for anything that is not one (another version, garbage). */
export function parseEvent(message: string): GatehouseEvent | undefined {
  try {
    const event = JSON.parse(message) as { type?: unknown };
    if (typeof event !== "object" || event === null) return undefined;
    return EVENT_TYPES.has(event.type as GatehouseEventType) ? (event as GatehouseEvent) : undefined;
  } catch {
    return undefined;
  }
}

export async function createRedisEventBus(options: RedisEventBusOptions): Promise<EventBus> {
  const { redis } = options;
  const channel = eventChannel(options.prefix);
  const listeners = new ListenerTable((err, event) => log.error({ err, event: event.type }, "event listener failed"));
  const subscriber = redis.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null });
  subscriber.on("error", (err) => log.warn({ err: String(err) }, "event subscriber connection error"));
  subscriber.on("message", (from: string, message: string) => {
    if (from !== channel) return;
    const event = parseEvent(message);
    if (event) listeners.dispatch(event);
  });
  // Start-up does not wait for Redis: a node that starts while Redis is down reports not ready until it is back.
  subscriber.subscribe(channel).catch((err) => log.warn({ err: String(err) }, "event subscribe failed; retrying"));

  let closed = false;
  return {
    async publish(event) {
      await redis.publish(channel, JSON.stringify(event));
    },
    subscribe: (type, listener) => listeners.add(type, listener),
    health: async () => (closed ? "disconnected" : probe(redis, subscriber, options.probeTimeoutMs ?? 1000)),
    async close() {
      closed = true;
      subscriber.disconnect();
    },
  };
}

/** Both connections must work: publishing (PING on the shared client) and receiving (the subscriber is up). */
async function probe(redis: Redis, subscriber: Redis, timeoutMs: number): Promise<BusHealth> {
  if (subscriber.status !== "ready") return "disconnected";
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error("timeout")), timeoutMs).unref()),
    ]);
    return pong === "PONG" ? "connected" : "disconnected";
  } catch {
    return "disconnected";
  }
}
