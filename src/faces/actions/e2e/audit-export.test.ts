// The audit log from the outside: export + JWKS → `gatehouse audit verify` (a separate process, only the public
// keys) passes, a tampered line fails and is named; redaction keeps a parameter out of everything stored;
// `puruto` and `http` tools run through the one connector registry.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import {
  agent,
  executeBody,
  exportedRecords,
  operator,
  registerManifest,
  startReceiver,
  type Receiver,
} from "./helpers";
import { must } from "../../../core/must";

const REPO = resolve(import.meta.dirname, "../../../..");
const CARD = "4111-1111-SECRET-7788";
const UAPK = "audit-bot";

let g: TestGatehouse;
let receiver: Receiver;
let work: string;

beforeAll(async () => {
  [g, receiver] = await Promise.all([
    startTestGatehouse({ env: { GATEHOUSE_SECRET_CRM_TOKEN: "tok-e2e-secret" } }),
    startReceiver(),
  ]);
  work = mkdtempSync(join(tmpdir(), "gatehouse-audit-e2e-"));
  const local = { allowed_hosts: ["127.0.0.1"], allow_private: true };
  await registerManifest(g, {
    uapk_id: UAPK,
    agent: { id: UAPK, name: "Audit Bot" },
    capabilities: ["card:charge", "card:store", "finance:balance", "crm:update", "crm:flaky"],
    constraints: { max_actions_per_hour: 100 },
    tools: {
      // echo answers with the params, so the result must be redacted too.
      "card:charge": { connector: { type: "echo" }, redact: ["params.card_number", "result.data.card_number"] },
      "card:store": { connector: { type: "noop" }, redact: ["params.card_number"] },
      "finance:balance": { connector: { type: "puruto", puruto: "puruto-financial", command: "balance" } },
      "crm:update": {
        connector: {
          type: "http",
          method: "POST",
          url: `${receiver.url}/customers/{id}`,
          headers: { Authorization: { secret_ref: "GATEHOUSE_SECRET_CRM_TOKEN", prefix: "Bearer " } },
          ...local,
        },
      },
      "crm:flaky": { connector: { type: "http", url: `${receiver.url}/fail/{id}`, ...local } },
    },
  });
});

afterAll(async () => {
  await g?.dispose();
  await receiver?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

function auditVerify(file: string, jwks: string) {
  const run = spawnSync("npm", ["run", "-s", "gatehouse", "--", "audit", "verify", file, "--jwks", jwks], {
    cwd: REPO,
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe("connectors through the one registry", () => {
  it("a puruto tool runs the real puruto command through the discovery face's invoker", async () => {
    const ok = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "finance", tool: "balance", params: { account: "main" } }),
    );
    expect(ok.body).toMatchObject({ decision: "ALLOW", executed: true, result: { success: true } });
    expect(ok.body.result.data).toMatchObject({ accounts: { main: expect.any(Number) }, currency: expect.any(String) });

    // The command itself fails (unknown account → exit 2): recorded, not executed. It ran, so its budget unit
    // stays spent (only a call that never reached the tool is refunded).
    const failed = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "finance", tool: "balance", params: { account: "nope" } }),
    );
    expect(failed.body).toMatchObject({
      decision: "ALLOW",
      executed: false,
      result: { success: false, error_code: "COMMAND_FAILED" },
    });
    expect(failed.body.risk_snapshot.budget_current).toBe(ok.body.risk_snapshot.budget_current + 1);
  });

  it("an http tool gets its URL-encoded param and its secret header; the secret is in no record", async () => {
    const r = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "crm", tool: "update", params: { id: "c/42", status: "contacted" } }),
    );
    expect(r.body).toMatchObject({ executed: true, result: { success: true } });
    const hit = receiver.received.find((x) => x.path === "/customers/c%2F42")!;
    expect(hit.headers.authorization).toBe("Bearer tok-e2e-secret");
    expect(JSON.parse(hit.body)).toEqual({ status: "contacted" });

    const flaky = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "crm", tool: "flaky", params: { id: "1" } }),
    );
    expect(flaky.body).toMatchObject({
      executed: false,
      result: { success: false, error_code: "UPSTREAM_HTTP_ERROR" },
    });
    expect((await exportedRecords(g)).text).not.toContain("tok-e2e-secret");
  });

  it("a manifest in the old vocabulary is refused with every problem listed", async () => {
    const reply = await operator(g).post("/manifests", {
      uapk_id: "old-bot",
      agent: { id: "old-bot", name: "Old" },
      capabilities: ["crm:read"],
      tools: {
        "crm:read": {
          connector: { type: "http", url: "https://api.example.com/x", allowed_domains: ["api.example.com"] },
        },
      },
    });
    expect(reply.status).toBe(400);
    expect(JSON.stringify(reply.body.errors)).toContain("allowed_domains");
  });
});

describe("redaction", () => {
  it("keeps a parameter out of stored records, the API and the export; the tool still gets it", async () => {
    const charge = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "card", tool: "charge", params: { card_number: CARD, amount_cents: 1200 } }),
    );
    expect(charge.body.result.data.card_number).toBe(CARD); // the agent's own answer is not redacted
    const store = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "card", tool: "store", params: { card_number: CARD } }),
    );
    expect(store.body.executed).toBe(true);

    const { text, records } = await exportedRecords(g);
    expect(text).not.toContain(CARD);
    const intent = records.find((r) => r.interaction_id === charge.body.interaction_id && r.kind === "intent")!;
    expect(intent.action.params).toEqual({ card_number: "[redacted]", amount_cents: 1200 });
    const list = await operator(g).get("/interactions?limit=100");
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(CARD);
    expect((await operator(g).get(`/interactions/${charge.body.interaction_id}`)).text).not.toContain(CARD);
    // Nothing in the data directory (database, WAL) holds the value either.
    const dataDir = dirname(g.db!.name);
    const files = readdirSync(dataDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    expect(files.map((f) => f.name)).toContain("gatehouse.sqlite");
    for (const file of files)
      expect(readFileSync(join(file.parentPath, file.name)).includes(CARD), file.name).toBe(false);
  });
});

describe("export → gatehouse audit verify", () => {
  it("an untouched export verifies offline with the published JWKS; a tampered line fails and is named", async () => {
    await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "card", tool: "store", params: { card_number: "x" } }),
    );
    const { text, records } = await exportedRecords(g);
    const jwks = await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json());
    // Every published key says what it signs; the verifier trusts the audit ones.
    const purposes = (jwks as { keys: { purpose?: string }[] }).keys.map((k) => k.purpose);
    expect(purposes).toContain("audit");
    expect(purposes.every((p) => p === "audit" || p === "capability-token" || p === "user-token")).toBe(true);
    const exportFile = join(work, "audit.jsonl");
    const jwksFile = join(work, "jwks.json");
    writeFileSync(exportFile, text);
    writeFileSync(jwksFile, JSON.stringify(jwks));

    const ok = auditVerify(exportFile, jwksFile);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(new RegExp(`^OK: ${records.length} record\\(s\\) in 1 org chain`));

    // Turn a recorded failure into a success, as someone covering their tracks would.
    const lines = text.trimEnd().split("\n");
    const victim = Math.floor(lines.length / 2);
    const record = JSON.parse(must(lines[victim], "victim is an index into lines"));
    record.executed = !record.executed;
    lines[victim] = JSON.stringify(record);
    const tamperedFile = join(work, "tampered.jsonl");
    writeFileSync(tamperedFile, `${lines.join("\n")}\n`);
    const bad = auditVerify(tamperedFile, jwksFile);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(`seq ${record.seq}`);
    expect(bad.stderr).toContain(`interaction_id ${record.interaction_id}`);
    expect(bad.stderr).toMatch(/hash mismatch/);
  });
});
