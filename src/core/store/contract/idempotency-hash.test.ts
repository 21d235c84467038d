// Review R15 (F3) on both backends' shared store: the request hash leaves out the MCP session the gateway adds to
// the context, so a retry from a new session replays; a key claimed before the change (its hash covering the
// session) still replays its identical retry; another request or another person under the key is a conflict.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sha256Canonical } from "../../audit/canonical";
import { idempotencyRequestHashes } from "../../idempotency";
import type { AnyKysely } from "../postgres";
import { createSharedIdempotencyStore } from "../shared/idempotency";
import { contractBackends } from "./backends";

const scope = { org_id: "org-acme", agent_id: "support-bot", key: "retry-key-42" };
const bodyIn = (session: string, context: Record<string, unknown> = {}, to = "ann@example.com") => ({
  uapk_id: "support-bot",
  agent_id: "support-bot",
  idempotency_key: scope.key,
  action: { type: "crm", tool: "update", params: { to } },
  context: { channel: "mcp", mcp_session_id: session, ...context },
});

describe.each(await contractBackends("store contract: idempotency request hash"))(
  "an idempotency key across MCP sessions ($name)",
  (backend) => {
    let db: AnyKysely;
    let close: () => Promise<void>;
    beforeEach(async () => {
      const opened = await backend.open();
      db = opened.db;
      close = opened.close;
    });
    afterEach(() => close());

    it("a new session's identical retry replays; other arguments or another person conflict", async () => {
      const store = createSharedIdempotencyStore(db);
      expect((await store.begin({ ...scope, ...idempotencyRequestHashes(bodyIn("s-1")) })).state).toBe("new");
      await store.complete(scope, { interaction_id: "int-1", timestamp: "2024-12-14T10:30:00Z" });
      expect(await store.begin({ ...scope, ...idempotencyRequestHashes(bodyIn("s-2")) })).toMatchObject({
        state: "replay",
        response: { interaction_id: "int-1" },
      });
      const other = idempotencyRequestHashes(bodyIn("s-2", {}, "bob@example.com"));
      expect((await store.begin({ ...scope, ...other })).state).toBe("conflict");
      const person = idempotencyRequestHashes(bodyIn("s-2", { user: "mallory@acme" }));
      expect((await store.begin({ ...scope, ...person })).state).toBe("conflict");
    });

    it("a key claimed before the change replays its identical same-session retry", async () => {
      const store = createSharedIdempotencyStore(db);
      const { idempotency_key: _key, ...before } = bodyIn("s-1");
      await store.begin({ ...scope, requestHash: sha256Canonical(before) });
      await store.complete(scope, { interaction_id: "int-1", timestamp: "2024-12-14T10:30:00Z" });
      expect((await store.begin({ ...scope, ...idempotencyRequestHashes(bodyIn("s-1")) })).state).toBe("replay");
      const other = idempotencyRequestHashes(bodyIn("s-1", {}, "bob@example.com"));
      expect((await store.begin({ ...scope, ...other })).state).toBe("conflict");
    });
  },
);
