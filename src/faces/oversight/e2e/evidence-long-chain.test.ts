// A chain longer than a page (EXPORT_PAGE_RECORDS), read a page at a time, on either backend: the evidence bundle of
// an interaction early in it (its proof carries every later record up to the head, sent page by page as read: the
// pages must join into one chain the offline verifier accepts), and the online verification of the whole chain.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../../contract-tests/fixtures";
import { runCli } from "../../../cli/program";
import { EXPORT_PAGE_RECORDS } from "../../../core/audit/export-pages";
import { gatehouseBackends, type OpenedBackend } from "../../../test-support/backends";
import { agent, executeBody, operator, registerManifest } from "../../../test-support/http";

const UAPK = "long-chain-bot";
const manifest = {
  uapk_id: UAPK,
  agent: { id: UAPK, name: "Long Chain Bot" },
  capabilities: ["crm:read"],
  tools: { "crm:read": { connector: { type: "echo" } } },
};

const backends = await gatehouseBackends("evidence of a long chain");

describe.each(backends)("a chain over more than one page of records ($name)", (backend) => {
  let opened: OpenedBackend;
  let g: TestGatehouse;
  let work: string;
  let first: string;

  async function execute(id: string) {
    const reply = await agent(g).post(
      "/api/v1/gateway/execute",
      executeBody(UAPK, { type: "crm", tool: "read", params: { id } }),
    );
    expect(reply.body.decision, reply.text).toBe("ALLOW");
    return reply.body.interaction_id as string;
  }

  beforeAll(async () => {
    opened = await backend.open();
    g = await startTestGatehouse({ env: opened.env });
    work = mkdtempSync(join(tmpdir(), "gatehouse-evidence-long-"));
    await registerManifest(g, manifest);
    first = await execute("first");
    // Each ALLOW appends an intent and an outcome: enough later traffic for the proof to span two pages and more.
    for (let round = 0; round < Math.ceil((EXPORT_PAGE_RECORDS * 1.2) / 2 / 20); round++) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => execute(`later-${round}-${i}`)));
    }
  }, 120_000);

  afterAll(async () => {
    await g?.dispose();
    await opened?.dispose();
    rmSync(work, { recursive: true, force: true });
  });

  it("carries every record from the interaction to the head, in order, and verifies offline", async () => {
    const reply = await operator(g).get(`/interactions/${first}/evidence`);
    expect(reply.status, reply.text).toBe(200);
    expect(reply.headers.get("content-type")).toMatch(/^application\/json/);
    const bundle = reply.body;
    const chain = bundle.proof.chain as { seq: number }[];
    expect(chain.length).toBeGreaterThan(EXPORT_PAGE_RECORDS);
    expect(chain.map((r) => r.seq)).toEqual(Array.from({ length: chain.length }, (_, i) => chain[0]!.seq + i));
    expect(chain.at(-1)?.seq).toBe(bundle.proof.chain_head.seq);
    expect(bundle.interaction_id).toBe(first);

    const jwks = join(work, "jwks.json");
    writeFileSync(jwks, JSON.stringify(await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json())));
    const file = join(work, "bundle.json");
    writeFileSync(file, reply.text);
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(["evidence", "verify", file, "--jwks", jwks], {
      stdout: (l) => out.push(l),
      stderr: (l) => err.push(l),
    });
    expect(code, err.join("\n")).toBe(0);
    expect(out.join("\n")).toMatch(new RegExp(`chain: ${chain.length} record\\(s\\)`));
  });

  it("verifies online, page by page, every record of the chain", async () => {
    const head = await operator(g).get("/interactions/head");
    const reply = await operator(g).get("/interactions/verify");
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body).toMatchObject({ valid: true });
    expect(reply.body.records).toBeGreaterThanOrEqual(head.body.seq);
  });
});
