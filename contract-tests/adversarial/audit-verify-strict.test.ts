// Issue 10 §3: `gatehouse audit verify` is strict. A line that is not exactly the canonical JSON of its record —
// a duplicate key (JSON.parse keeps the last one, another reader the first), reordered keys, whitespace, another
// number spelling — fails, even though the record it parses to would verify. Unknown fields fail too.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { afterAll, describe, expect, it } from "vitest";
import { runAuditVerify } from "../../src/cli/audit-verify";
import { createAuditLog, newInteractionId } from "../../src/core/audit/audit-log";
import { openMigratedDatabase } from "../../src/core/store/test-support";

const ORG = "org-strict";
const dir = mkdtempSync(join(tmpdir(), "gatehouse-verify-strict-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function exported() {
  const log = createAuditLog(await openMigratedDatabase(":memory:"));
  for (let i = 0; i < 2; i++) {
    log.appendDecision({
      org_id: ORG,
      interaction_id: newInteractionId(),
      uapk_id: "bot",
      agent_id: "bot",
      action: { type: "email", tool: "send", params: { to: "a@example.com", n: 1.5 } },
      decision: "DENY",
      reasons: [{ code: "BUDGET_EXCEEDED", message: "over" }],
      policy_trace: { checks: [{ check: "budget_check", result: "fail" }] },
    });
  }
  const jwks = join(dir, "jwks.json");
  writeFileSync(jwks, JSON.stringify(log.publicJwks()));
  return { jwks, lines: (await text(log.exportJsonlStream(ORG))).trimEnd().split("\n") };
}

async function verify(lines: string[], jwks: string) {
  const file = join(dir, `${newInteractionId()}.jsonl`);
  writeFileSync(file, `${lines.join("\n")}\n`);
  const err: string[] = [];
  const code = await runAuditVerify([file, "--jwks", jwks], { stdout: () => {}, stderr: (l) => err.push(l) });
  return { code, err: err.join("\n") };
}

describe("audit verify is strict about every line", () => {
  it("accepts the export as written", async () => {
    const { jwks, lines } = await exported();
    expect((await verify(lines, jwks)).code).toBe(0);
  });

  it.each([
    [
      "a duplicate key",
      (l: string) => l.replace('{"action":', '{"agent_id":"someone-else","action":'),
      /line 2 has duplicate keys/,
    ],
    ["whitespace", (l: string) => l.replace('"agent_id":', '"agent_id": '), /line 2 is not canonical JSON/],
    [
      "reordered keys",
      (l: string) => JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(l)).reverse())),
      /line 2 is not canonical/,
    ],
    ["another number spelling", (l: string) => l.replace('"n":1.5', '"n":1.50'), /line 2 is not canonical/],
    ["an unknown field", (l: string) => l.replace('{"action":', '{"_extra":1,"action":'), /unexpected field/],
  ])("fails a line with %s", async (_name, tamper, message) => {
    const { jwks, lines } = await exported();
    const tampered = [lines[0] as string, tamper(lines[1] as string)];
    expect(tampered[1]).not.toBe(lines[1]);
    const result = await verify(tampered, jwks);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(message);
  });
});

describe("audit verify prints a tampered record's values escaped", () => {
  it("an interaction_id with a carriage return and an ANSI escape cannot repaint the FAIL line as an OK", async () => {
    const { jwks, lines } = await exported();
    const record = JSON.parse(lines[1] as string) as Record<string, unknown>;
    record.interaction_id = "int-x\r\u001b[2KOK: 2 record(s) verified";
    const result = await verify([lines[0] as string, JSON.stringify(record)], jwks);
    expect(result.code).toBe(1);
    const [first = "", ...rest] = result.err.split("\n");
    expect(first).toMatch(/^FAIL: record seq 2, interaction_id int-x\\u000d\\u001b\[2KOK: 2 record\(s\) verified, /u);
    for (const line of [first, ...rest]) expect(line).not.toMatch(/\p{Cc}/u);
  });
});

describe("audit verify prints what it could not parse escaped", () => {
  // JSON.parse quotes the start of a line it refuses: raw, a `\r` and an ANSI erase there repainted the FAIL line.
  it("a line that is not JSON cannot repaint the FAIL line with its own bytes", async () => {
    const { jwks, lines } = await exported();
    const result = await verify([lines[0] as string, "x\u001b[2K\rOK: 2 record(s) verified"], jwks);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/^FAIL: line 2 is not JSON/u);
    for (const line of result.err.split("\n")) expect(line).not.toMatch(/\p{Cc}/u);
  });

  it("the CLI's own error line (evidence verify of a file that is not JSON) is escaped too", async () => {
    const file = join(dir, "not-json.json");
    writeFileSync(file, "x\u001b[2K\rOK: evidence bundle verified");
    const { runCli } = await import("../../src/cli/program");
    const err: string[] = [];
    const code = await runCli(["evidence", "verify", file, "--jwks", file], {
      stdout: () => {},
      stderr: (l) => err.push(l),
    });
    expect(code).not.toBe(0);
    expect(err.join("\n")).toMatch(/^gatehouse: /u);
    for (const line of err.join("\n").split("\n")) expect(line).not.toMatch(/\p{Cc}/u);
  });
});
