// gatehouse_approval_status takes the approval ids REST's GET /api/v1/gateway/approvals/{approval_id} takes: at most
// 256 characters, none a control, line-separator, bidi or invisible one (the spec's id rule). It checked the length
// only (at most 128), so an id holding U+202E or U+200B went on to the approvals store, as REST refuses it 400.
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent } from "../../../test-support/http";
import { MCP_BOT_MANIFEST, mcpClient, registerMcpBot, UAPK } from "../../../test-support/mcp";

const OTHER_ORG = "other-org-approvals";
let g: TestGatehouse;
let client: Client;
let approvalId: string;

const structured = (r: unknown) => (r as { structuredContent?: Record<string, unknown> }).structuredContent!;
const status = (c: Client, id: unknown) =>
  c.callTool({ name: "gatehouse_approval_status", arguments: { approval_id: id } });

beforeAll(async () => {
  g = await startTestGatehouse({ env: { GATEHOUSE_MCP_APPROVAL_WAIT_SECONDS: "0" } });
  await registerMcpBot(g);
  client = await mcpClient(`${g.url}/mcp/agents/${UAPK}`);
  const pending = await client.callTool({
    name: "crm_delete",
    arguments: { params: { id: "c-1" }, counterparty: "c1@ok.example" },
  });
  approvalId = structured(pending).approval_id as string;
  expect(approvalId).toMatch(/^appr-/);
});

afterAll(async () => {
  await client?.close();
  await g?.dispose();
});

describe("gatehouse_approval_status's approval_id", () => {
  it("is refused VALIDATION_FAILED naming the argument when REST's path rule refuses it (control, bidi, invisible, over 256)", async () => {
    for (const bad of ["\u202e", "\u200b", "\u009b", "\u2028", "\ufeff", "\u0000"]) {
      const id = `${approvalId}${bad}`;
      expect((await agent(g).get(`/api/v1/gateway/approvals/${encodeURIComponent(id)}`)).status).toBe(400);
      const refused = await status(client, id);
      expect(refused.isError).toBe(true);
      expect(structured(refused)).toMatchObject({
        code: "VALIDATION_FAILED",
        errors: [{ pointer: "/arguments/approval_id", message: expect.stringContaining("bidi or invisible") }],
      });
      expect(JSON.stringify(refused)).not.toContain('"pending"');
    }
    const long = await status(client, "a".repeat(257));
    expect(structured(long)).toMatchObject({
      code: "VALIDATION_FAILED",
      errors: [{ pointer: "/arguments/approval_id", message: expect.stringContaining("256") }],
    });
    for (const notText of [42, "", null])
      expect(structured(await status(client, notText))).toMatchObject({
        code: "VALIDATION_FAILED",
        errors: [{ pointer: "/arguments/approval_id" }],
      });
  });

  it("takes what REST takes: a 256-character id is looked up (not found), the real one answers", async () => {
    expect(structured(await status(client, "a".repeat(256)))).toMatchObject({ code: "APPROVAL_NOT_FOUND" });
    expect(structured(await status(client, approvalId))).toMatchObject({ approval_id: approvalId, status: "pending" });
  });

  it("a look-alike of a real id (Cyrillic а, fullwidth letters, another case) finds nothing: ids are compared exactly", async () => {
    const lookAlikes = [
      approvalId.replace("a", "\u0430"),
      approvalId.replace("a", "\uff41"),
      approvalId.toUpperCase(),
      approvalId.replace("-", "\u2010"),
    ];
    for (const id of lookAlikes) {
      const answer = await status(client, id);
      expect(answer.isError).toBe(true);
      expect(structured(answer)).toMatchObject({ code: "APPROVAL_NOT_FOUND" });
      expect(structured(answer)).not.toHaveProperty("action");
    }
  });

  it("another org's session cannot read this org's approval by its id", async () => {
    const token = await g.userTokenFor(OTHER_ORG, "ops@other", ["operator"]);
    const registered = await fetch(`${g.url}/api/v1/orgs/${OTHER_ORG}/manifests`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify(MCP_BOT_MANIFEST),
    });
    expect([200, 201]).toContain(registered.status);
    const other = await mcpClient(`${g.url}/mcp/agents/${UAPK}`, { Authorization: `Bearer ${token}` });
    try {
      const answer = await status(other, approvalId);
      expect(structured(answer)).toMatchObject({ code: "APPROVAL_NOT_FOUND" });
      expect(JSON.stringify(answer)).not.toContain("c-1");
    } finally {
      await other.close();
    }
  });
});
