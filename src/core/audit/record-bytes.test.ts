// The audit record's bytes are the product's trust: verifiers (ours and external ones) recompute every record's
// canonical JSON, hash and signature input, and read its stored row back. This file keeps the implementations
// those bytes were defined with (before jsonValue, canonicalJson and hashedBody were made cheaper) and checks that
// the current ones produce exactly the same strings, for generated values and for whole records built by the real
// record builders (record-content.ts), with the builders run once on the reference code and once on the current.
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";

const reference = vi.hoisted(() => {
  const state = { active: false };

  // canonical.ts, as it was.
  function canonicalJson(value: unknown): string {
    if (value === null) return "null";
    switch (typeof value) {
      case "boolean":
        return value ? "true" : "false";
      case "string":
        return JSON.stringify(value);
      case "number":
        if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: non-finite number ${value}`);
        return JSON.stringify(value);
      case "object": {
        if (Array.isArray(value)) {
          let out = "[";
          for (let i = 0; i < value.length; i++) {
            if (i > 0) out += ",";
            out += canonicalJson(value[i] ?? null);
          }
          return `${out}]`;
        }
        if (typeof (value as { toJSON?: unknown }).toJSON === "function") {
          return canonicalJson((value as { toJSON: () => unknown }).toJSON());
        }
        const keys = Object.keys(value).sort();
        let out = "{";
        for (const key of keys) {
          const member = (value as Record<string, unknown>)[key];
          if (member === undefined || typeof member === "function") continue;
          if (out.length > 1) out += ",";
          out += `${JSON.stringify(key)}:${canonicalJson(member)}`;
        }
        return `${out}}`;
      }
      default:
        throw new TypeError(`canonicalJson: cannot serialise a ${typeof value}`);
    }
  }

  // record.ts's jsonValue, as it was.
  function jsonValue(value: unknown): unknown {
    return value === undefined ? null : JSON.parse(JSON.stringify(value));
  }

  return { state, canonicalJson, jsonValue };
});

// The record builders (and bound.ts) call the reference code while `reference.state.active`, the current otherwise.
vi.mock("./canonical", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./canonical")>();
  return {
    ...actual,
    canonicalJson: (value: unknown) =>
      reference.state.active ? reference.canonicalJson(value) : actual.canonicalJson(value),
  };
});
vi.mock("./record", async (importOriginal) => {
  const actual = await importOriginal<typeof import("./record")>();
  return {
    ...actual,
    jsonValue: (value: unknown) => (reference.state.active ? reference.jsonValue(value) : actual.jsonValue(value)),
  };
});

const { canonicalJson, sha256Canonical } = await import("./canonical");
const { GENESIS_HASH, HASHED_FIELDS, hashRecord, jsonValue } = await import("./record");
const { toRow } = await import("./audit-rows");
const content = await import("./record-content");
type UnsignedAuditRecord = import("./record").UnsignedAuditRecord;
type AuditRecord = import("./record").AuditRecord;

// record.ts's hashRecord (body in HASHED_FIELDS order, then canonicalised) and audit-rows.ts's toRow, as they were.
function referenceHashRecord(record: UnsignedAuditRecord) {
  const body: Record<string, unknown> = {};
  for (const field of HASHED_FIELDS) body[field] = record[field] ?? null;
  const bytes = Buffer.from(reference.canonicalJson(body), "utf8");
  return { hashed: { ...record, hash: createHash("sha256").update(bytes).digest("hex") }, body: bytes };
}

function referenceToRow(record: AuditRecord) {
  const json = (value: unknown) => (value === null || value === undefined ? null : JSON.stringify(value));
  return {
    ...record,
    action: json(record.action),
    reasons: json(record.reasons),
    policy_trace: json(record.policy_trace),
    result: json(record.result),
    meta: json(record.meta),
    executed: record.executed === null ? null : record.executed ? 1 : 0,
    signature: record.signature ?? "",
  };
}

/** What a call gave: its value, or the class and message of what it threw. */
function outcome<T>(run: () => T): { value: T } | { threw: string } {
  try {
    return { value: run() };
  } catch (error) {
    return { threw: `${(error as Error).constructor.name}: ${(error as Error).message}` };
  }
}

/** Structure, key order, -0, holes and prototypes: two values that differ in any of them differ here. */
function expectSameValue(actual: unknown, expected: unknown): void {
  expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));
  expect(shape(actual)).toEqual(shape(expected));
}

/** `value` as nested arrays of strings (toStrictEqual would compare an own `constructor` member as the class). */
function shape(value: unknown): unknown {
  if (value === null || (typeof value !== "object" && typeof value !== "function")) {
    return [typeof value, Object.is(value, -0) ? "-0" : String(value)];
  }
  const prototype = Object.getPrototypeOf(value);
  const kind = prototype === Object.prototype ? "object" : prototype === Array.prototype ? "array" : String(prototype);
  if (Array.isArray(value)) {
    return [kind, value.length, Array.from(value.keys(), (i) => (i in value ? shape(value[i]) : "hole"))];
  }
  return [kind, Object.entries(value).map(([key, member]) => [key, shape(member)])];
}

function parsedFromJson(value: unknown): unknown {
  const text = outcome(() => JSON.stringify(value));
  return "value" in text && text.value !== undefined ? JSON.parse(text.value) : value;
}

const awkwardString = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }),
  fc.string({ unit: "grapheme", maxLength: 12 }),
  fc.constantFrom("", '"', "\\", "\n\t\r\b\f", "\u0000\u001f\u007f", "\u2028\u2029", "\ud800", "x\udc00", "😀", "€"),
);
const awkwardKey = fc.oneof(
  awkwardString,
  fc.constantFrom("__proto__", "", "toJSON", "constructor", "0", "1", "10", "2", "4294967295", "-1", "a.b", "😀"),
);
const awkwardNumber = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(-0, 0, 1e21, 1e-7, 0.000001, 2 ** 53, -(2 ** 53) - 2, 1.7976931348623157e308, 5e-324),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
);
const oddLeaf = fc.constantFrom(
  undefined,
  () => 1,
  Symbol("s"),
  new Date(0),
  { toJSON: (key: string) => `key:${key}` },
  Object.assign(Object.create(null) as object, { b: 1, a: 2 }),
  new (class Point {
    x = 1;
  })(),
  Object(1) as object,
  Object("s") as object,
  new Map([[1, 2]]),
  10n,
);

const anyValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    awkwardNumber,
    awkwardString,
    fc.date(),
    oddLeaf,
    fc.array(tie("value"), { maxLength: 6 }),
    fc.sparseArray(tie("value"), { maxLength: 6 }),
    fc.dictionary(awkwardKey, tie("value"), { maxKeys: 6 }),
    // As a request body parses: `__proto__` an own key.
    fc.dictionary(awkwardKey, tie("value"), { maxKeys: 6 }).map(parsedFromJson),
  ),
})).value;

// What records actually carry: JSON (as parsed from a request, `__proto__` keys included), Dates, undefined members.
const plainValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    awkwardNumber.filter(Number.isFinite),
    awkwardString,
    fc.date({ noInvalidDate: true }),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(awkwardKey, fc.oneof(tie("value"), fc.constant(undefined)), { maxKeys: 5 }),
  ),
})).value;

describe("the audit record's bytes are those of the reference implementation", () => {
  it("jsonValue copies exactly what the JSON round trip yields (or throws what it throws)", () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        const expected = outcome(() => reference.jsonValue(value));
        const actual = outcome(() => jsonValue(value));
        if ("threw" in expected) expect(actual).toStrictEqual(expected);
        else expectSameValue((actual as { value: unknown }).value, expected.value);
      }),
      { numRuns: 5000 },
    );
  });

  it("jsonValue on the cases named one by one", () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const deep = Array.from({ length: 200 }).reduce<unknown>((inner) => ({ inner: [inner] }), 1);
    const cases: unknown[] = [
      -0,
      [-0, 1e21, 1e-7, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60],
      { a: undefined, b: () => 1, c: Symbol("c"), d: null },
      [undefined, () => 1, Symbol("c")],
      // biome-ignore lint/suspicious/noSparseArray: a hole is one of the cases
      [1, , 3],
      { at: new Date(0), nested: { toJSON: (key: string) => ({ key }) } },
      JSON.parse('{"__proto__":{"polluted":true},"a":1}'),
      { 10: "a", 2: "b", b: 1, a: 2, "": 3 },
      deep,
      cyclic,
      10n,
      Symbol("top"),
      () => 1,
      "\ud800",
    ];
    for (const value of cases) {
      const expected = outcome(() => reference.jsonValue(value));
      const actual = outcome(() => jsonValue(value));
      if ("threw" in expected) expect(actual).toStrictEqual(expected);
      else expectSameValue((actual as { value: unknown }).value, expected.value);
    }
  });

  it("canonicalJson writes the same string (or throws the same error) for any value", () => {
    fc.assert(
      fc.property(anyValue, (value) => {
        expect(outcome(() => canonicalJson(value))).toStrictEqual(outcome(() => reference.canonicalJson(value)));
        expect(outcome(() => sha256Canonical(value))).toStrictEqual(
          outcome(() => createHash("sha256").update(reference.canonicalJson(value), "utf8").digest("hex")),
        );
      }),
      { numRuns: 5000 },
    );
  });

  it("hashRecord hashes and signs the same bytes, and toRow stores the same row, for any record", () => {
    const record = fc.record({
      org_id: awkwardString,
      seq: fc.integer({ min: 1 }),
      kind: fc.constantFrom("intent", "outcome", "decision", "approval" as const),
      interaction_id: awkwardString,
      timestamp: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      uapk_id: fc.option(awkwardString),
      agent_id: fc.option(awkwardString),
      action: plainValue,
      decision: fc.constantFrom("ALLOW", "DENY", "ESCALATE", null),
      reasons: plainValue,
      policy_trace: plainValue,
      approval_id: fc.option(awkwardString),
      executed: fc.option(fc.boolean()),
      result: plainValue,
      meta: plainValue,
      prev_hash: fc.constant(GENESIS_HASH),
      kid: awkwardString,
    });
    fc.assert(
      fc.property(record, fc.option(awkwardString), (unsigned, signature) => {
        // Records are hashed once their values are JSON values (the builders' jsonValue).
        const normalised = { ...unsigned } as Record<string, unknown>;
        for (const field of ["action", "reasons", "policy_trace", "result", "meta"]) {
          normalised[field] = reference.jsonValue(normalised[field]);
        }
        expectSameRecordBytes(normalised as unknown as UnsignedAuditRecord, signature);
      }),
      { numRuns: 3000 },
    );
  });

  it("the record builders build records with the same bytes as with the reference code", () => {
    const params = fc.dictionary(awkwardKey, fc.oneof(plainValue, fc.constant(undefined)), { maxKeys: 5 });
    const action = fc.record({ type: awkwardString, tool: awkwardString, params }, { requiredKeys: ["type", "tool"] });
    const redact = fc.option(
      fc.subarray(["params", "params.a", "params.*", "params.*.b", "result.data", "result.data.*", "result", "x.y"]),
      { nil: undefined },
    );
    const meta = fc.dictionary(awkwardKey, plainValue, { maxKeys: 4 });
    const decided = fc.record(
      {
        org_id: fc.constant("org"),
        interaction_id: awkwardString,
        reasons: fc.array(plainValue, { maxLength: 3 }),
        policy_trace: plainValue,
        approval_id: fc.option(awkwardString),
        redact,
        meta,
        uapk_id: awkwardString,
        agent_id: awkwardString,
        action,
      },
      // approval_id and meta absent as often as present
      {
        requiredKeys: [
          "org_id",
          "interaction_id",
          "reasons",
          "policy_trace",
          "redact",
          "uapk_id",
          "agent_id",
          "action",
        ],
      },
    );
    const build = fc.oneof(
      decided.map((input) => () => content.intentContent({ ...input, decision: "ALLOW" })),
      fc.tuple(decided, fc.constantFrom("DENY", "ESCALATE" as const), fc.boolean()).map(
        ([input, decision, noAction]) =>
          () =>
            content.decisionContent({ ...input, decision, ...(noAction ? { action: null, uapk_id: null } : {}) }),
      ),
      fc
        .record(
          { result: plainValue, redact, meta, executed: fc.boolean(), interaction_id: awkwardString },
          { requiredKeys: ["result", "redact", "executed", "interaction_id"] },
        )
        .map(
          (input) => () =>
            content.outcomeContent({ ...input, org_id: "org" }, [
              { kind: "intent", uapk_id: "u", agent_id: "a", decision: "ALLOW", approval_id: null },
            ]),
        ),
      fc
        .tuple(
          decided,
          fc.constantFrom("approved", "denied", "expired", "cancelled" as const),
          fc.option(awkwardString),
        )
        .map(
          ([input, status, decided_by]) =>
            () =>
              content.approvalContent({ ...input, approval_id: "ap", status, decided_by, reason: decided_by }),
        ),
    );
    fc.assert(
      fc.property(build, awkwardString, fc.integer({ min: 1 }), (buildContent, kid, seq) => {
        const asRecord = (c: ReturnType<typeof content.intentContent>): UnsignedAuditRecord => ({
          org_id: "org",
          seq,
          timestamp: new Date(0).toISOString(),
          ...c,
          prev_hash: GENESIS_HASH,
          kid,
        });
        reference.state.active = true;
        const expected = outcome(() => asRecord(buildContent()));
        reference.state.active = false;
        const actual = outcome(() => asRecord(buildContent()));
        if ("threw" in expected) return expect(actual).toStrictEqual(expected);
        expectSameValue((actual as { value: unknown }).value, expected.value);
        expectSameRecordBytes((actual as { value: UnsignedAuditRecord }).value, null, expected.value);
      }),
      { numRuns: 3000 },
    );
  });
});

/** hash, signature input and stored row of `record` equal the reference's for `expected` (itself by default). */
function expectSameRecordBytes(
  record: UnsignedAuditRecord,
  signature: string | null,
  expected: UnsignedAuditRecord = record,
): void {
  const want = referenceHashRecord(expected);
  const got = hashRecord(record);
  expect(Buffer.from(got.body, "utf8").equals(want.body)).toBe(true);
  expect(got.hashed.hash).toBe(want.hashed.hash);
  // The same fields and values; the record comes out in the stored field order, its signature still null.
  expectSameValue(inFieldOrder(got.hashed), inFieldOrder({ ...want.hashed, signature: null }));
  const gotRow = toRow({ ...got.hashed, signature }, got.texts);
  const wantRow = referenceToRow({ ...want.hashed, signature });
  // The JSON columns store the canonical JSON of the reference's values (the text the hash covered: keys sorted);
  // every other column is the reference's exactly.
  for (const column of JSON_COLUMNS) {
    const text = wantRow[column];
    expect(gotRow[column]).toBe(text === null ? null : reference.canonicalJson(JSON.parse(text)));
  }
  expect({ ...gotRow, ...jsonColumnsOf(wantRow) }).toStrictEqual(wantRow);
}

/** `record`'s members in one fixed order (every field of a record, hash and signature included). */
function inFieldOrder(record: object): Record<string, unknown> {
  const ordered: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1))) ordered[key] = value;
  return ordered;
}

const JSON_COLUMNS = ["action", "reasons", "policy_trace", "result", "meta"] as const;
const jsonColumnsOf = (row: Record<string, unknown>) => Object.fromEntries(JSON_COLUMNS.map((c) => [c, row[c]]));
