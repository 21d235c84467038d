// The embedded API key store: environment keys, created keys (only their keyed hash stored), revocation.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Db } from "../store/sqlite";
import { openMigratedDatabase } from "../store/test-support";
import { createApiKeyStore } from "./api-keys";

const secret = Buffer.alloc(32, 7);

describe("API key store (SQLite)", () => {
  let db: Db;
  beforeEach(async () => {
    db = await openMigratedDatabase();
  });
  afterEach(() => db.close());

  it("is not configured without keys; the .env.example placeholder does not count", () => {
    const store = createApiKeyStore(db, { secret, envKeys: ["changeme"], defaultOrg: "default" });
    expect(store.configured).toBe(false);
    expect(store.verify("changeme")).toBeUndefined();
  });

  it("accepts environment keys for the default org", () => {
    const store = createApiKeyStore(db, { secret, envKeys: ["k-one", "k-two"], defaultOrg: "default" });
    expect(store.configured).toBe(true);
    expect(store.verify("k-two")).toEqual({ keyId: "env-2", orgId: "default" });
    expect(store.verify("k-three")).toBeUndefined();
  });

  it("stores a created key as its keyed hash only, accepts it until revoked", () => {
    const store = createApiKeyStore(db, { secret, envKeys: [], defaultOrg: "default" });
    const { keyId, key } = store.create("org-a", "ci");
    expect(store.configured).toBe(true);
    expect(store.verify(key)).toEqual({ keyId, orgId: "org-a" });
    expect(store.verify(key)).toEqual({ keyId, orgId: "org-a" }); // cached hash, same verdict
    const row = db.prepare("SELECT * FROM api_keys WHERE key_id = ?").get(keyId) as Record<string, unknown>;
    expect(JSON.stringify(row)).not.toContain(key);
    db.prepare("UPDATE api_keys SET revoked_at = ? WHERE key_id = ?").run(new Date().toISOString(), keyId);
    expect(store.verify(key)).toBeUndefined();
    expect(store.configured).toBe(false);
  });
});
