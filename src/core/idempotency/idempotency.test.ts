import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { linkIntent } from "../store/idempotency-queries";
import { sqliteQuery } from "../store/sqlite-query";
import { openMigratedDatabase } from "../store/test-support";
import { sha256Canonical } from "../audit/canonical";
import {
  createIdempotencyStore,
  idempotencyRequestHash,
  idempotencyRequestHashes,
  type IdempotencyStore,
} from "./idempotency";

const scope = { org_id: "org-acme", agent_id: "support-bot", key: "order-confirmation-12345" };
const body = {
  uapk_id: "support-bot",
  agent_id: "support-bot",
  idempotency_key: scope.key,
  action: { type: "email", tool: "send", params: { to: "customer@example.com", subject: "Order Confirmation #12345" } },
};
const requestHash = idempotencyRequestHash(body);

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** What the execute handler will do: begin → (execute once) → complete, or wait/replay. */
async function execute(
  store: IdempotencyStore,
  run: () => Promise<Record<string, unknown>>,
  hash = requestHash,
): Promise<Record<string, unknown>> {
  const begun = store.begin({ ...scope, requestHash: hash });
  if (begun.state === "new") {
    const response = await run();
    store.complete(scope, response);
    return response;
  }
  if (begun.state === "replay") return begun.response;
  if (begun.state === "conflict") return { conflict: begun.reason };
  if (begun.state === "outcome_unknown") return { outcome_unknown: begun.interaction_id, settled: begun.settled };
  const waited = await begun.wait;
  // The first caller's owner died: begin again (as src/core/governance/idempotent.ts does).
  if (waited.state === "expired") return execute(store, run, hash);
  return waited.state === "replay" ? waited.response : { waited: waited.state };
}

function sendEmail(counter: { calls: number }) {
  return async () => {
    counter.calls += 1;
    await new Promise((resolve) => setTimeout(resolve, 30));
    return {
      interaction_id: `int-${counter.calls}`,
      decision: "ALLOW",
      executed: true,
      result: { message_id: "msg-xyz789" },
      timestamp: "2024-12-14T10:30:00Z",
    };
  };
}

describe("idempotency", () => {
  it("replays the original response with idempotent: true and original_timestamp", async () => {
    const store = createIdempotencyStore(await openMigratedDatabase(":memory:"));
    const counter = { calls: 0 };
    const first = await execute(store, sendEmail(counter));
    const again = await execute(store, sendEmail(counter));
    expect(counter.calls).toBe(1);
    expect(first).not.toHaveProperty("idempotent");
    expect(again).toEqual({ ...first, idempotent: true, original_timestamp: "2024-12-14T10:30:00Z" });
  });

  it("answers conflict for the same key with another body, and ignores key order in the body", async () => {
    const store = createIdempotencyStore(await openMigratedDatabase(":memory:"));
    const counter = { calls: 0 };
    await execute(store, sendEmail(counter));
    const otherBody = idempotencyRequestHash({
      ...body,
      action: { ...body.action, params: { to: "other@example.com" } },
    });
    expect(await execute(store, sendEmail(counter), otherBody)).toEqual({
      conflict: 'Idempotency key "order-confirmation-12345" was already used with a different request',
    });
    const reordered = idempotencyRequestHash({
      action: body.action,
      agent_id: body.agent_id,
      uapk_id: body.uapk_id,
      idempotency_key: "x",
    });
    expect(reordered).toBe(requestHash);
    expect(counter.calls).toBe(1);
  });

  it("executes once for 200 concurrent callers with one key, and all 200 get the same answer", async () => {
    const store = createIdempotencyStore(await openMigratedDatabase(":memory:"));
    const counter = { calls: 0 };
    const answers = await Promise.all(Array.from({ length: 200 }, () => execute(store, sendEmail(counter))));
    expect(counter.calls).toBe(1);
    expect(answers).toHaveLength(200);
    for (const answer of answers) {
      expect(answer).toMatchObject({ interaction_id: "int-1", result: { message_id: "msg-xyz789" } });
    }
    expect(answers.filter((a) => a.idempotent === true)).toHaveLength(199);
  });

  it("scopes keys to org and agent", async () => {
    const store = createIdempotencyStore(await openMigratedDatabase(":memory:"));
    store.begin({ ...scope, requestHash });
    expect(store.begin({ ...scope, agent_id: "other-agent", requestHash }).state).toBe("new");
    expect(store.begin({ ...scope, org_id: "org-other", requestHash }).state).toBe("new");
  });

  it("survives re-opening the same database file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-idem-"));
    dirs.push(dir);
    const file = join(dir, "gatehouse.db");
    const counter = { calls: 0 };
    const first = await execute(createIdempotencyStore(await openMigratedDatabase(file)), sendEmail(counter));
    const afterRestart = createIdempotencyStore(await openMigratedDatabase(file));
    expect(await execute(afterRestart, sendEmail(counter))).toEqual({
      ...first,
      idempotent: true,
      original_timestamp: first.timestamp,
    });
    expect(counter.calls).toBe(1);
  });

  it("never re-executes a key left in flight by a process that died; answers unknown while its lease runs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-idem-"));
    dirs.push(dir);
    const file = join(dir, "gatehouse.db");
    expect(createIdempotencyStore(await openMigratedDatabase(file)).begin({ ...scope, requestHash }).state).toBe("new");
    // "crash": that store never completes. A new process sees the key in flight, not new.
    const restarted = createIdempotencyStore(await openMigratedDatabase(file), {
      foreignWaitMs: 100,
      pollIntervalMs: 20,
    });
    const begun = restarted.begin({ ...scope, requestHash });
    expect(begun.state).toBe("in_flight");
    if (begun.state === "in_flight") expect(await begun.wait).toEqual({ state: "unknown" });
  });

  describe("a key left in flight by a process that died (SIGKILL), after a restart", () => {
    async function restart(dying: { renewEveryMs?: number; leaseMs: number }) {
      const dir = mkdtempSync(join(tmpdir(), "gatehouse-idem-"));
      dirs.push(dir);
      const file = join(dir, "gatehouse.db");
      const diedDb = await openMigratedDatabase(file);
      const died = createIdempotencyStore(diedDb, { renewEveryMs: 600_000, ...dying });
      expect(died.begin({ ...scope, requestHash }).state).toBe("new");
      const restarted = createIdempotencyStore(await openMigratedDatabase(file), {
        foreignWaitMs: 5_000,
        pollIntervalMs: 10,
      });
      // The link a reservation of the dead process writes with its intent (src/core/governance/sqlite-adapters.ts).
      const linkStmt = sqliteQuery(diedDb, (b, $: Parameters<typeof linkIntent>[1]) => linkIntent(b, $));
      const link = (interactionId: string) =>
        linkStmt.run({ ...scope, owner: died.owner, interaction_id: interactionId }).changes === 1;
      return { died, restarted, link };
    }

    it("is executed by the retry when the dead process had not reached its intent", async () => {
      const { restarted, link } = await restart({ leaseMs: 50 });
      const counter = { calls: 0 };
      const started = Date.now();
      const answer = await execute(restarted, sendEmail(counter));
      expect(answer).toMatchObject({ interaction_id: "int-1", executed: true });
      expect(Date.now() - started).toBeLessThan(1_000); // the lease, not the 5 s foreign wait
      expect(counter.calls).toBe(1);
      expect(link("int-too-late")).toBe(false); // were it still alive, its reservation would write nothing now
    });

    it("is settled as outcome-unknown, never re-executed, when the dead process had linked its intent", async () => {
      const { restarted, link } = await restart({ leaseMs: 50 });
      expect(link("int-dead")).toBe(true);
      const counter = { calls: 0 };
      expect(await execute(restarted, sendEmail(counter))).toEqual({ outcome_unknown: "int-dead", settled: true });
      expect(await execute(restarted, sendEmail(counter))).toEqual({ outcome_unknown: "int-dead", settled: false });
      expect(counter.calls).toBe(0);
    });

    it("is waited for while its owner renews the lease", async () => {
      const { died: alive, restarted } = await restart({ leaseMs: 200, renewEveryMs: 40 });
      const waiting = restarted.begin({ ...scope, requestHash });
      expect(waiting.state).toBe("in_flight");
      await new Promise((resolve) => setTimeout(resolve, 600));
      alive.complete(scope, { interaction_id: "int-alive", timestamp: "2024-12-14T10:30:00Z" });
      if (waiting.state === "in_flight")
        expect(await waiting.wait).toMatchObject({ state: "replay", response: { interaction_id: "int-alive" } });
    });
  });

  it("forgets keys after the TTL and frees a released key for a retry", async () => {
    let clock = Date.parse("2024-12-14T10:00:00Z");
    const store = createIdempotencyStore(await openMigratedDatabase(":memory:"), {
      ttlMs: 1000,
      now: () => new Date(clock),
    });
    store.begin({ ...scope, requestHash });
    store.complete(scope, { ok: true });
    expect(store.begin({ ...scope, requestHash }).state).toBe("replay");
    clock += 1001;
    expect(store.begin({ ...scope, requestHash }).state).toBe("new");

    const waiting = store.begin({ ...scope, requestHash });
    expect(waiting.state).toBe("in_flight");
    store.release(scope);
    if (waiting.state === "in_flight") expect(await waiting.wait).toEqual({ state: "released" });
    expect(store.begin({ ...scope, requestHash }).state).toBe("new");
  });
});

// Review R15: the MCP face adds `context.mcp_session_id` (a new one per session) to the execute body; with it in
// the hash, the retry of a client that lost its session was refused IDEMPOTENCY_KEY_REUSED (and then retried
// with a new key: run twice).
describe("idempotency: what the request hash covers", () => {
  const mcpBody = (session: string, extra: Record<string, unknown> = {}) => ({
    ...body,
    context: { channel: "mcp", mcp_session_id: session, ...extra },
  });

  it("leaves out the transport session the gateway adds, keeps channel and the person", () => {
    const one = idempotencyRequestHash(mcpBody("session-1"));
    expect(idempotencyRequestHash(mcpBody("session-2"))).toBe(one);
    expect(idempotencyRequestHash(mcpBody("session-2", { user: "ann@acme" }))).not.toBe(one);
    expect(idempotencyRequestHash(mcpBody("session-1", { user: "bob@acme" }))).not.toBe(
      idempotencyRequestHash(mcpBody("session-1", { user: "ann@acme" })),
    );
    expect(idempotencyRequestHash({ ...body, context: { channel: "rest" } })).not.toBe(one);
    expect(
      idempotencyRequestHash({ ...mcpBody("session-1"), action: { ...body.action, params: { to: "x@y.z" } } }),
    ).not.toBe(one);
  });

  it("a body without transport fields hashes as before R15 (REST keys stored before an upgrade still match)", () => {
    const { idempotency_key: _key, ...rest } = { ...body, context: { channel: "rest", user: "ann" } };
    expect(idempotencyRequestHashes({ ...rest, idempotency_key: "k" })).toEqual({ requestHash: sha256Canonical(rest) });
    const { idempotency_key: _k, ...plain } = body;
    expect(idempotencyRequestHashes(body)).toEqual({ requestHash: sha256Canonical(plain) });
  });

  it("a key claimed before R15 (its hash covering the session) replays its identical retry, and only that", async () => {
    const store = createIdempotencyStore(await openMigratedDatabase(":memory:"));
    const { idempotency_key: _key, ...before } = mcpBody("session-1");
    // As the store of the version before: the whole body minus the key.
    store.begin({ ...scope, requestHash: sha256Canonical(before) });
    store.complete(scope, { interaction_id: "int-1", timestamp: "2024-12-14T10:30:00Z" });
    expect(store.begin({ ...scope, ...idempotencyRequestHashes(mcpBody("session-1")) })).toMatchObject({
      state: "replay",
      response: { interaction_id: "int-1", idempotent: true },
    });
    const other = { ...mcpBody("session-1"), action: { ...body.action, params: { to: "x@y.z" } } };
    expect(store.begin({ ...scope, ...idempotencyRequestHashes(other) }).state).toBe("conflict");
  });

  it("a key claimed now replays to another session's identical retry; another person's is a conflict", async () => {
    const store = createIdempotencyStore(await openMigratedDatabase(":memory:"));
    const counter = { calls: 0 };
    const first = await execute(store, sendEmail(counter), idempotencyRequestHash(mcpBody("session-1")));
    const retry = await execute(store, sendEmail(counter), idempotencyRequestHash(mcpBody("session-2")));
    expect(counter.calls).toBe(1);
    expect(retry).toMatchObject({ interaction_id: first.interaction_id, idempotent: true });
    const person = idempotencyRequestHash(mcpBody("session-3", { user: "mallory@acme" }));
    expect(await execute(store, sendEmail(counter), person)).toHaveProperty("conflict");
    expect(counter.calls).toBe(1);
  });
});
