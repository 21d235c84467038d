// The event bus port: what one gateway node tells the others (and itself). The embedded default is in-process;
// with REDIS_URL it is Redis pub/sub (./redis-bus.ts), so a change on node B reaches listeners on node A.
//
// Events are hints, never the truth: the shared store is. A listener re-reads what it needs, and every waiter
// keeps a periodic re-check of the store as a safety net for a lost message (pub/sub is at-most-once).

/** Every event a node publishes. Add a variant here and the compiler shows every switch that must handle it. */
export type GatehouseEvent =
  | { type: "approval.created"; org_id: string; approval_id: string }
  | { type: "approval.decided"; org_id: string; approval_id: string; status: string }
  | { type: "approval.expired"; org_id: string; approval_id: string }
  | { type: "token.revoked"; org_id: string; token_id: string }
  | { type: "manifest.changed"; org_id: string; manifest_id: string; uapk_id?: string }
  // An MCP session was deleted (on any node): every node closes its copy and its streams at once (src/faces/mcp).
  | { type: "mcp.session.deleted"; session_id: string };

export type GatehouseEventType = GatehouseEvent["type"];
export type EventOf<T extends GatehouseEventType> = Extract<GatehouseEvent, { type: T }>;
export type EventListener<T extends GatehouseEventType> = (event: EventOf<T>) => void;

export interface EventBus {
  /**
   * Delivers to every listener of every node, this one included (asynchronously, never inside the caller).
   * Resolves once handed to the transport; rejects when the transport is down (the caller decides what that means).
   */
  publish(event: GatehouseEvent): Promise<void>;
  /** Returns an unsubscribe function. A listener that throws is logged and never disturbs the others. */
  subscribe<T extends GatehouseEventType>(type: T, listener: EventListener<T>): () => void;
  /** "connected" | "disconnected" | "not_configured" (in-process): a readiness probe. */
  health(): Promise<BusHealth>;
  close(): Promise<void>;
}

export type BusHealth = "connected" | "disconnected" | "not_configured";

/** Listeners by event type; shared by both implementations (the Redis one dispatches what it receives). */
export class ListenerTable {
  private readonly byType = new Map<GatehouseEventType, Set<(event: GatehouseEvent) => void>>();

  constructor(private readonly onListenerError: (err: unknown, event: GatehouseEvent) => void) {}

  add<T extends GatehouseEventType>(type: T, listener: EventListener<T>): () => void {
    let set = this.byType.get(type);
    if (!set) {
      set = new Set();
      this.byType.set(type, set);
    }
    const untyped = listener as (event: GatehouseEvent) => void;
    set.add(untyped);
    return () => set.delete(untyped);
  }

  dispatch(event: GatehouseEvent): void {
    for (const listener of Array.from(this.byType.get(event.type) ?? [])) {
      try {
        listener(event);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
  }
}
