import { generateKeyPairSync } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { verifyRecords } from "./verify";
import { fromRow, toRow } from "./audit-rows";
import { canonicalJson } from "./canonical";
import {
  GENESIS_HASH,
  hashedBody,
  hashRecord,
  recordHash,
  signatureValid,
  signRecord,
  type UnsignedAuditRecord,
} from "./record";

const { privateKey, publicKey } = generateKeyPairSync("ed25519");

const payload = fc.jsonValue({ maxDepth: 3 });
const unsignedRecord: fc.Arbitrary<UnsignedAuditRecord> = fc.record({
  org_id: fc.string({ minLength: 1, maxLength: 12 }),
  seq: fc.constant(1),
  kind: fc.constantFrom("intent", "outcome", "decision", "approval"),
  interaction_id: fc.string({ unit: "binary", minLength: 1, maxLength: 20 }),
  timestamp: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  uapk_id: fc.option(fc.string()),
  agent_id: fc.option(fc.string()),
  action: payload,
  decision: fc.constantFrom("ALLOW", "DENY", "ESCALATE", null),
  reasons: payload,
  policy_trace: payload,
  approval_id: fc.option(fc.string()),
  executed: fc.option(fc.boolean()),
  result: payload,
  meta: payload,
  prev_hash: fc.constant(GENESIS_HASH),
  kid: fc.string({ minLength: 1, maxLength: 10 }),
});

describe("signRecord", () => {
  it("stores the hash the verifiers recompute and a signature they accept", () => {
    fc.assert(
      fc.property(unsignedRecord, (unsigned) => {
        const record = signRecord(unsigned, privateKey);
        expect(record.hash).toBe(recordHash(unsigned));
        expect(signatureValid(record, publicKey)).toBe(true);
        // The JSONL export round trip, as `gatehouse audit verify` reads it.
        const exported = JSON.parse(JSON.stringify(record));
        expect(verifyRecords([exported], () => publicKey)).toEqual({ valid: true, records: 1, orgs: 1 });
      }),
      { numRuns: 300 },
    );
  });

  it("produces a signature that no longer verifies once a hashed field changes", () => {
    const record = signRecord(
      {
        org_id: "org-1",
        seq: 1,
        kind: "intent",
        interaction_id: "int-1",
        timestamp: "2026-01-01T00:00:00.000Z",
        uapk_id: "u",
        agent_id: "a",
        action: { type: "http", tool: "t", params: { amount: 10 } },
        decision: "ALLOW",
        reasons: [],
        policy_trace: null,
        approval_id: null,
        executed: null,
        result: null,
        meta: null,
        prev_hash: GENESIS_HASH,
        kid: "k1",
      },
      privateKey,
    );
    expect(signatureValid(record, publicKey)).toBe(true);
    expect(signatureValid({ ...record, action: { type: "http", tool: "t", params: { amount: 11 } } }, publicKey)).toBe(
      false,
    );
  });
});

describe("hashRecord", () => {
  it("covers exactly the canonical JSON of the hashed fields, and its column texts store the same values", () => {
    fc.assert(
      fc.property(unsignedRecord, (record) => {
        const { hashed, body, texts } = hashRecord(record);
        expect(body).toBe(canonicalJson(hashedBody(record)));
        expect(hashed.hash).toBe(recordHash(record));
        // The row written from the texts reads back as the record: its values as the JSON round trip gives them.
        const signed = { ...hashed, signature: null };
        expect(fromRow(toRow(signed, texts))).toEqual(JSON.parse(JSON.stringify(signed)));
        expect(toRow(signed, texts).meta === null).toBe(record.meta === null);
      }),
      { numRuns: 300 },
    );
  });
});
