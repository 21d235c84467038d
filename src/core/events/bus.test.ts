// The event bus, in-process and across two Redis connections (two "nodes" on one Redis, a unique prefix).
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { createMemoryEventBus, createRedisEventBus, type EventBus, type GatehouseEvent } from "./index";
import { parseEvent } from "./redis-bus";
import { shouldRunRedisTests, TEST_REDIS_URL } from "./redis-availability";

const runRedis = await shouldRunRedisTests("event bus over Redis");

function collect(bus: EventBus, type: GatehouseEvent["type"]): GatehouseEvent[] {
  const seen: GatehouseEvent[] = [];
  bus.subscribe(type, (event) => seen.push(event));
  return seen;
}

describe("in-process event bus", () => {
  it("delivers an event to its type's listeners only, after publish returns", async () => {
    const bus = createMemoryEventBus();
    const decided = collect(bus, "approval.decided");
    const revoked = collect(bus, "token.revoked");
    const publishing = bus.publish({ type: "approval.decided", org_id: "o", approval_id: "a1", status: "approved" });
    expect(decided).toEqual([]);
    await publishing;
    await expect.poll(() => decided.length).toBe(1);
    expect(decided[0]).toMatchObject({ approval_id: "a1", status: "approved" });
    expect(revoked).toEqual([]);
  });

  it("a throwing listener does not stop the others; unsubscribe stops delivery", async () => {
    const bus = createMemoryEventBus();
    bus.subscribe("token.revoked", () => {
      throw new Error("boom");
    });
    const seen = collect(bus, "token.revoked");
    const late: GatehouseEvent[] = [];
    const stop = bus.subscribe("token.revoked", (e) => late.push(e));
    stop();
    await bus.publish({ type: "token.revoked", org_id: "o", token_id: "t" });
    await expect.poll(() => seen.length).toBe(1);
    expect(late).toEqual([]);
  });
});

describe("message parsing", () => {
  it("ignores anything that is not a known event", () => {
    expect(parseEvent("not json")).toBeUndefined();
    expect(parseEvent(JSON.stringify({ type: "approval.unknown" }))).toBeUndefined();
    expect(parseEvent("null")).toBeUndefined();
    expect(parseEvent(JSON.stringify({ type: "token.revoked", org_id: "o", token_id: "t" }))).toMatchObject({
      token_id: "t",
    });
    // Another node's MCP DELETE: the event that closes this node's copy of the session.
    expect(parseEvent(JSON.stringify({ type: "mcp.session.deleted", session_id: "s-1" }))).toEqual({
      type: "mcp.session.deleted",
      session_id: "s-1",
    });
  });
});

describe.runIf(runRedis)("Redis event bus across two connections", () => {
  const prefix = `gatehouse-test-events-${randomUUID()}`;
  const clients: Redis[] = [];
  const buses: EventBus[] = [];
  const node = async (channelPrefix = prefix) => {
    const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
    await redis.connect();
    clients.push(redis);
    const bus = await createRedisEventBus({ redis, prefix: channelPrefix });
    buses.push(bus);
    await expect.poll(() => bus.health()).toBe("connected");
    return bus;
  };
  afterAll(async () => {
    for (const bus of buses) await bus.close();
    for (const redis of clients) redis.disconnect();
  });

  it("an event published on node B reaches node A's listeners (and B's own)", async () => {
    const a = await node();
    const b = await node();
    const onA = collect(a, "approval.decided");
    const onB = collect(b, "approval.decided");
    await b.publish({ type: "approval.decided", org_id: "org", approval_id: "appr-1", status: "denied" });
    await expect.poll(() => onA.length).toBe(1);
    expect(onA[0]).toEqual({ type: "approval.decided", org_id: "org", approval_id: "appr-1", status: "denied" });
    await expect.poll(() => onB.length).toBe(1);
  });

  it("another prefix is another installation: its events are never heard", async () => {
    const a = await node();
    const stranger = await node(`${prefix}-other`);
    const onA = collect(a, "manifest.changed");
    const onStranger = collect(stranger, "manifest.changed");
    await stranger.publish({ type: "manifest.changed", org_id: "org", manifest_id: "m1" });
    await a.publish({ type: "manifest.changed", org_id: "org", manifest_id: "m2" });
    await expect.poll(() => onA.map((e) => (e.type === "manifest.changed" ? e.manifest_id : ""))).toEqual(["m2"]);
    expect(onStranger).toHaveLength(1);
  });

  it("health is disconnected once the bus is closed", async () => {
    const a = await node();
    await a.close();
    expect(await a.health()).toBe("disconnected");
  });
});
