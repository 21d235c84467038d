import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { afterEach, describe, expect, it } from "vitest";
import { runAuditVerify } from "../../cli/audit-verify";
import { must } from "../must";
import { loopTurns, openMigratedDatabase } from "../store/test-support";
import { type AuditLog, createAuditLog, newInteractionId } from "./audit-log";

const ORG = "org-acme";
const action = { type: "email", tool: "send", params: { to: "c@example.com", subject: "Hi", body: "secret text" } };

function allow(log: AuditLog, org = ORG, agent = "bot-1") {
  const interaction_id = newInteractionId();
  log.appendIntent({
    org_id: org,
    interaction_id,
    uapk_id: "support-bot",
    agent_id: agent,
    action,
    decision: "ALLOW",
    reasons: [],
    policy_trace: { checks: [{ check: "tool_authorization", result: "pass" }] },
  });
  log.appendOutcome({
    org_id: org,
    interaction_id,
    executed: true,
    result: { success: true, data: { message_id: "m-1" } },
  });
  return interaction_id;
}

function deny(log: AuditLog, org = ORG, agent = "bot-1") {
  return log.appendDecision({
    org_id: org,
    interaction_id: newInteractionId(),
    uapk_id: "support-bot",
    agent_id: agent,
    action,
    decision: "DENY",
    reasons: [{ code: "BUDGET_EXCEEDED", message: "Hourly action limit exceeded (100/100)" }],
    policy_trace: { checks: [{ check: "budget_check", result: "fail" }] },
  });
}

const tmpDirs: string[] = [];
function tempDir() {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-audit-"));
  tmpDirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of tmpDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: (l: string) => out.push(l), stderr: (l: string) => err.push(l) }, out, err };
}

describe("audit log chain", () => {
  it("verifies after 1,000 appends with gapless seq and linked hashes", async () => {
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    for (let i = 0; i < 500; i += 1) allow(log);
    const result = await log.verifyChain(ORG);
    expect(result).toEqual({ valid: true, records: 1000, orgs: 1 });
    expect(log.head(ORG)?.seq).toBe(1000);
  });

  it("exports a chain of 2,500 records a page at a time, the event loop turning between pages; `audit verify` accepts it", async () => {
    // exportJsonl / exportJsonlLines read a whole chain in one synchronous pass (no turn of the loop, every request
    // of the node stopped meanwhile); they are gone.
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    expect(log).not.toHaveProperty("exportJsonl");
    expect(log).not.toHaveProperty("exportJsonlLines");
    for (let i = 0; i < 1_250; i += 1) allow(log);
    const turns = loopTurns();
    const chunks: { text: string; turnsBefore: number }[] = [];
    for await (const chunk of log.exportJsonlStream(ORG)) chunks.push({ text: chunk, turnsBefore: turns.count });
    turns.stop();
    const lineCounts = chunks.map((c) => c.text.trimEnd().split("\n").length);
    expect(lineCounts).toEqual([1_000, 1_000, 500, 1]); // three pages of records, then the signed head
    // Other requests had their turns during the export: at least one between any two pages.
    const turnsBetween = chunks.slice(1).map((c, i) => c.turnsBefore - (chunks[i]?.turnsBefore ?? 0));
    expect(
      turnsBetween.every((n) => n > 0),
      `turns between pages: ${turnsBetween}`,
    ).toBe(true);

    const dir = tempDir();
    writeFileSync(join(dir, "export.jsonl"), chunks.map((c) => c.text).join(""));
    writeFileSync(join(dir, "jwks.json"), JSON.stringify(log.publicJwks()));
    const { io, out, err } = captureIo();
    const code = await runAuditVerify([join(dir, "export.jsonl"), "--jwks", join(dir, "jwks.json")], io);
    expect(code, err.join("\n")).toBe(0);
    expect(out.join("\n")).toMatch(/^OK: 2500 record\(s\)/);
  });

  it("keeps one chain per org, each starting at seq 1", async () => {
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    allow(log, "org-a");
    allow(log, "org-b");
    deny(log, "org-a");
    expect(log.list("org-a").records.map((r) => r.seq)).toEqual([3, 2, 1]);
    expect(log.list("org-b").records.map((r) => r.seq)).toEqual([2, 1]);
    expect((await log.verifyChain("org-a")).valid).toBe(true);
    expect((await log.verifyChain("org-b")).valid).toBe(true);
  });

  it("never forks under concurrent appends, also from two connections to one file", async () => {
    const file = join(tempDir(), "audit.db");
    const first = createAuditLog(await openMigratedDatabase(file));
    const second = createAuditLog(await openMigratedDatabase(file));
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i % 7));
        deny(i % 2 ? first : second);
      }),
    );
    const verification = await first.verifyChain(ORG);
    expect(verification).toEqual({ valid: true, records: 200, orgs: 1 });
    const seqs = first.list(ORG, { limit: 500 }).records.map((r) => r.seq);
    expect(new Set(seqs).size).toBe(200);
    expect(Math.max(...seqs)).toBe(200);
  });

  it("detects a record tampered in the database and names it", async () => {
    const db = await openMigratedDatabase(":memory:");
    const log = createAuditLog(db);
    allow(log);
    const target = deny(log);
    allow(log);
    db.prepare("UPDATE audit_records SET reasons = '[]' WHERE org_id = ? AND seq = ?").run(ORG, target.seq);
    const result = await log.verifyChain(ORG);
    expect(result.valid).toBe(false);
    if (result.valid) return;
    expect(result.first_invalid_seq).toBe(3);
    expect(result.interaction_id).toBe(target.interaction_id);
    expect(result.reason).toMatch(/hash mismatch/);
  });

  it("verifies a chain longer than a page a page at a time, letting other requests run, and still names a tampered record", async () => {
    const db = await openMigratedDatabase(":memory:");
    const log = createAuditLog(db);
    for (let i = 0; i < 2_500; i += 1) deny(log);
    // Other work of the node: in one synchronous pass over the chain, this timer could only run after it.
    let turns = 0;
    const ticking = setInterval(() => turns++, 0);
    const verification = log.verifyChain(ORG);
    expect(turns).toBe(0);
    expect(await verification).toEqual({ valid: true, records: 2_500, orgs: 1 });
    clearInterval(ticking);
    expect(turns).toBeGreaterThan(0);

    db.prepare("UPDATE audit_records SET reasons = '[]' WHERE org_id = ? AND seq = ?").run(ORG, 2_345);
    expect(await log.verifyChain(ORG)).toMatchObject({ valid: false, first_invalid_seq: 2_345, records: 2_344 });
  });

  it("detects a deleted record as a seq gap", async () => {
    const db = await openMigratedDatabase(":memory:");
    const log = createAuditLog(db);
    for (let i = 0; i < 3; i += 1) deny(log);
    db.prepare("DELETE FROM audit_records WHERE seq = 2").run();
    const gap = await log.verifyChain(ORG);
    expect(gap.valid).toBe(false);
    if (!gap.valid) expect(gap.reason).toMatch(/seq gap: expected 2, found 3/);
  });

  it("signs with the active key, and records signed before a rotation still verify", async () => {
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    const before = deny(log);
    const { kid, retired_kid } = log.rotateSigningKey();
    const after = deny(log);
    expect(retired_kid).toBe(before.kid);
    expect(after.kid).toBe(kid);
    expect(after.kid).not.toBe(before.kid);
    expect(await log.verifyChain(ORG)).toEqual({ valid: true, records: 2, orgs: 1 });
    const jwks = log.publicJwks();
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([before.kid, after.kid].sort());
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: "OKP", crv: "Ed25519", use: "sig", alg: "EdDSA" });
      expect(key).not.toHaveProperty("d");
    }
  });

  it("keeps signing keys across re-opening the database file", async () => {
    const file = join(tempDir(), "audit.db");
    const first = deny(createAuditLog(await openMigratedDatabase(file)));
    const reopened = createAuditLog(await openMigratedDatabase(file));
    const second = deny(reopened);
    expect(second.kid).toBe(first.kid);
    expect(second.prev_hash).toBe(first.hash);
    expect((await reopened.verifyChain(ORG)).valid).toBe(true);
  });

  it("redacts configured parameter and result paths before hashing and storing", async () => {
    const db = await openMigratedDatabase(":memory:");
    const log = createAuditLog(db);
    const interaction_id = newInteractionId();
    log.appendIntent({
      org_id: ORG,
      interaction_id,
      uapk_id: "u",
      agent_id: "a",
      action,
      decision: "ALLOW",
      reasons: [],
      policy_trace: null,
      redact: ["params.body"],
    });
    log.appendOutcome({
      org_id: ORG,
      interaction_id,
      executed: true,
      result: { success: true, data: { body: "secret text", message_id: "m" } },
      redact: ["result.data.body"],
    });
    const stored = JSON.stringify(db.prepare("SELECT * FROM audit_records").all());
    expect(stored).not.toContain("secret text");
    const [intent, outcome] = log.getInteraction(ORG, interaction_id);
    expect(intent?.action).toEqual({ ...action, params: { ...action.params, body: "[redacted]" } });
    expect(outcome?.result).toEqual({ success: true, data: { body: "[redacted]", message_id: "m" } });
    expect(action.params.body).toBe("secret text"); // the caller's object is untouched
    expect((await log.verifyChain(ORG)).valid).toBe(true);
  });

  it("writes the intent before the outcome and refuses an outcome without an intent or twice", async () => {
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    const id = allow(log);
    const records = log.getInteraction(ORG, id);
    expect(records.map((r) => r.kind)).toEqual(["intent", "outcome"]);
    expect(records[1]).toMatchObject({ executed: true, agent_id: "bot-1", decision: "ALLOW" });
    expect(() => log.appendOutcome({ org_id: ORG, interaction_id: id, executed: true, result: null })).toThrow(
      /already recorded/,
    );
    expect(() => log.appendOutcome({ org_id: ORG, interaction_id: "int-nope", executed: true, result: null })).toThrow(
      /no intent/,
    );
    expect(() =>
      log.appendIntent({
        org_id: ORG,
        interaction_id: "int-x",
        uapk_id: "u",
        agent_id: "a",
        action,
        decision: "DENY",
        reasons: [],
        policy_trace: null,
      }),
    ).toThrow(/ALLOW/);
  });

  it("rolls back an append made inside a caller's transaction that fails", async () => {
    const db = await openMigratedDatabase(":memory:");
    const log = createAuditLog(db);
    deny(log);
    expect(() =>
      db.transaction(() => {
        deny(log);
        throw new Error("approval refused");
      })(),
    ).toThrow("approval refused");
    expect(log.head(ORG)?.seq).toBe(1);
    deny(log);
    expect(await log.verifyChain(ORG)).toEqual({ valid: true, records: 2, orgs: 1 });
  });

  it("lists with filters and cursor pagination, newest first", async () => {
    // A clock a minute on at each read; createAuditLog reads it once as it starts (its clock witness, ./step-back.ts).
    let clock = Date.parse("2024-12-14T09:59:00Z");
    const log = createAuditLog(await openMigratedDatabase(":memory:"), {
      now: () => {
        clock += 60_000;
        return new Date(clock);
      },
    });
    for (let i = 0; i < 5; i += 1) deny(log, ORG, "bot-1");
    for (let i = 0; i < 3; i += 1) allow(log, ORG, "bot-2");

    const denies = log.list(ORG, { decision: "DENY" }).records;
    expect(denies).toHaveLength(5);
    expect(denies.every((r) => r.decision === "DENY")).toBe(true);
    expect(log.list(ORG, { agent_id: "bot-2" }).records).toHaveLength(6);
    expect(log.list(ORG, { agent_id: "bot-2", kind: "outcome" }).records).toHaveLength(3);

    const window = log.list(ORG, { since: "2024-12-14T10:02:00Z", until: "2024-12-14T10:04:00Z" }).records;
    expect(window.map((r) => r.timestamp)).toEqual(["2024-12-14T10:03:00.000Z", "2024-12-14T10:02:00.000Z"]);

    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = log.list(ORG, { limit: 3, cursor });
      seen.push(...page.records.map((r) => r.seq));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    expect(() => log.list(ORG, { cursor: "garbage" })).toThrow(/cursor/);
    expect(() => log.list(ORG, { since: "yesterday" })).toThrow(/since/);
  });
});

describe("gatehouse audit verify (offline)", () => {
  async function exportFixture() {
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    allow(log);
    const rotatedAt = deny(log);
    log.rotateSigningKey();
    allow(log);
    const dir = tempDir();
    const jwks = join(dir, "jwks.json");
    writeFileSync(jwks, JSON.stringify(log.publicJwks()));
    return { log, dir, jwks, lines: (await text(log.exportJsonlStream(ORG))).trimEnd().split("\n"), rotatedAt };
  }

  it("prints OK with counts for an untouched export signed by two keys", async () => {
    const { dir, jwks, lines } = await exportFixture();
    const file = join(dir, "audit.jsonl");
    writeFileSync(file, `${lines.join("\n")}\n`);
    const { io, out } = captureIo();
    expect(await runAuditVerify([file, "--jwks", jwks], io)).toBe(0);
    expect(out.join("\n")).toMatch(/^OK: 5 record\(s\) in 1 org chain/);
  });

  it("prints an org id holding a bidi override or a C1 control escaped, on the OK line too", async () => {
    const org = "org-\u202egnp.exe\u009b2J";
    const log = createAuditLog(await openMigratedDatabase(":memory:"));
    allow(log, org);
    const dir = tempDir();
    writeFileSync(join(dir, "jwks.json"), JSON.stringify(log.publicJwks()));
    writeFileSync(join(dir, "audit.jsonl"), await text(log.exportJsonlStream(org)));
    const { io, out, err } = captureIo();
    expect(await runAuditVerify([join(dir, "audit.jsonl"), "--jwks", join(dir, "jwks.json")], io), err.join("")).toBe(
      0,
    );
    expect(out.join("\n")).toContain("org-\\u202egnp.exe\\u009b2J at seq 2");
    expect(out.join("\n")).not.toMatch(/[\u202e\u009b]/);
  });

  it("names the seq and interaction_id of a tampered line and exits 1", async () => {
    const { dir, jwks, lines, rotatedAt } = await exportFixture();
    const tampered = JSON.parse(must(lines[2], "the fixture exports more than two lines"));
    expect(tampered.seq).toBe(rotatedAt.seq);
    tampered.decision = "ALLOW";
    lines[2] = JSON.stringify(tampered);
    const file = join(dir, "audit.jsonl");
    writeFileSync(file, lines.join("\n"));
    const { io, err } = captureIo();
    expect(await runAuditVerify([file, `--jwks=${jwks}`], io)).toBe(1);
    expect(err[0]).toContain(`seq 3, interaction_id ${rotatedAt.interaction_id}`);
    expect(err[0]).toMatch(/hash mismatch/);
  });

  it("rejects a forged line whose hash was recomputed (signature) and a dropped line (gap)", async () => {
    const { dir, jwks, lines } = await exportFixture();
    const { recordHash } = await import("./record");
    const forged = JSON.parse(must(lines[1], "the fixture exports more than one line"));
    forged.result = { success: true, data: { message_id: "forged" } };
    forged.hash = recordHash(forged);
    const forgedFile = join(dir, "forged.jsonl");
    // A careful forger writes the canonical form (a non-canonical line fails earlier, see the strict tests).
    const { canonicalJson } = await import("./canonical");
    writeFileSync(forgedFile, [lines[0], canonicalJson(forged)].join("\n"));
    const forgedRun = captureIo();
    expect(await runAuditVerify([forgedFile, "--jwks", jwks], forgedRun.io)).toBe(1);
    expect(forgedRun.err[0]).toMatch(/seq 2, .*signature does not verify/);

    const gapFile = join(dir, "gap.jsonl");
    writeFileSync(gapFile, [lines[0], lines[2]].join("\n"));
    const gapRun = captureIo();
    expect(await runAuditVerify([gapFile, "--jwks", jwks], gapRun.io)).toBe(1);
    expect(gapRun.err[0]).toMatch(/seq 3, .*seq gap/);
  });

  it("fails when the JWKS lacks the key that signed a record", async () => {
    const { dir, log, lines } = await exportFixture();
    const onlyNewest = join(dir, "partial-jwks.json");
    writeFileSync(onlyNewest, JSON.stringify({ keys: log.publicJwks().keys.slice(-1) }));
    const file = join(dir, "audit.jsonl");
    writeFileSync(file, lines.join("\n"));
    const { io, err } = captureIo();
    expect(await runAuditVerify([file, "--jwks", onlyNewest], io)).toBe(1);
    expect(err[0]).toMatch(/seq 1, .*unknown signing key/);
  });

  it("loads the JWKS from a URL and reports a line that is not JSON", async () => {
    const { createServer } = await import("node:http");
    const { dir, log, lines } = await exportFixture();
    const server = createServer((_req, res) =>
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(log.publicJwks())),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`;
      const file = join(dir, "audit.jsonl");
      writeFileSync(file, lines.join("\n"));
      const ok = captureIo();
      expect(await runAuditVerify([file, "--jwks", url], ok.io)).toBe(0);
      writeFileSync(file, [lines[0], "{not json", lines[1]].join("\n"));
      const broken = captureIo();
      expect(await runAuditVerify([file, "--jwks", url], broken.io)).toBe(1);
      expect(broken.err[0]).toMatch(/line 2 is not JSON/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it("explains usage errors with exit code 2", async () => {
    const { io, err } = captureIo();
    expect(await runAuditVerify(["only-a-file.jsonl"], io)).toBe(2);
    expect(err.join("\n")).toMatch(/--jwks/);
  });
});
