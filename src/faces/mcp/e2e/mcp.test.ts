// The MCP face from the outside: the official SDK's Client over Streamable HTTP against a real Gatehouse.
// Tools are the manifest's; calls are governed (ALLOW runs, DENY is an error with its code, ESCALATE waits for
// an operator's REST approval or answers pending); the audit export verifies with the CLI's verifier.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SUPPORTED_PROTOCOL_VERSIONS } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import openapi from "../../../../generated/openapi.json" with { type: "json" };
import { runAuditVerify } from "../../../cli/audit-verify";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { agent, executeBody, exportedRecords, operator } from "../../../test-support/http";
import { mcpClient, registerMcpBot, UAPK } from "../../../test-support/mcp";

let g: TestGatehouse;
let client: Client;
const endpoint = () => `${g.url}/mcp/agents/${UAPK}`;

beforeAll(async () => {
  g = await startTestGatehouse({
    env: { GATEHOUSE_MCP_APPROVAL_WAIT_SECONDS: "3", GATEHOUSE_MCP_PROGRESS_INTERVAL_MS: "100" },
  });
  await registerMcpBot(g);
  client = await mcpClient(endpoint());
});

afterAll(async () => {
  await client?.close();
  await g?.dispose();
});

const structured = (r: unknown) => (r as { structuredContent?: Record<string, any> }).structuredContent!;

describe("MCP agents endpoint", () => {
  it("lists the manifest's tools as type_tool with an input schema and the policy in the description", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      "crm_delete",
      "email_send",
      "gatehouse_approval_status",
      "noop_ping",
    ]);
    const del = tools.find((t) => t.name === "crm_delete")!;
    expect(del.title).toBe("crm:delete");
    expect(del.description).toContain("human approval");
    expect(del.inputSchema.required).toEqual(["params", "counterparty"]);
    expect(tools.find((t) => t.name === "email_send")!.description).toContain("*@blocked.example");
  });

  it("the amount a tool's input schema allows is REST's (negative ones too): the schema tells what a call may send", async () => {
    type Bounds = { minimum: number; maximum: number };
    const rest = openapi.components.schemas.Action.properties.amount;
    const { tools } = await client.listTools();
    const amount = (tools.find((t) => t.name === "noop_ping")!.inputSchema.properties as Record<string, Bounds>)
      .amount!;
    expect({ minimum: amount.minimum, maximum: amount.maximum }).toEqual({
      minimum: rest.minimum,
      maximum: rest.maximum,
    });
    expect(amount.minimum).toBeLessThan(0);
    // What the schema allows the face takes (no threshold applies to noop:ping); beyond it, refused as on REST.
    const args = { params: {}, counterparty: "amounts@ok.example" };
    const negative = await client.callTool({ name: "noop.ping", arguments: { ...args, amount: -5 } });
    expect(structured(negative)).toMatchObject({ decision: "ALLOW", executed: true });
    for (const beyond of [rest.minimum - 1e6, rest.maximum + 1e6]) {
      const refused = await client.callTool({ name: "noop.ping", arguments: { ...args, amount: beyond } });
      expect(structured(refused)).toMatchObject({ code: "VALIDATION_FAILED" });
    }
  });

  it("ALLOW: the connector runs and its result comes back as structured content and text", async () => {
    const params = { to: "ann@ok.example", subject: "hello" };
    const result = await client.callTool({ name: "email.send", arguments: { params, counterparty: "ann@ok.example" } });
    expect(result.isError).toBe(false);
    expect(structured(result)).toMatchObject({
      status: "executed",
      decision: "ALLOW",
      executed: true,
      result: { success: true },
    });
    expect(JSON.parse((result.content as { text: string }[])[0]!.text)).toMatchObject(params);
  });

  it("DENY: a blocked recipient is an isError result with the reason code", async () => {
    const result = await client.callTool({
      name: "email.send",
      arguments: { params: { to: "eve@blocked.example" }, counterparty: "eve@blocked.example" },
    });
    expect(result.isError).toBe(true);
    expect(structured(result)).toMatchObject({
      decision: "DENY",
      executed: false,
      reasons: [{ code: "COUNTERPARTY_BLOCKED" }],
    });
  });

  it("_meta ids are checked by REST's ExecuteRequest schema: a C1, separator, bidi or zero-width character is refused", async () => {
    const args = { params: {}, counterparty: "ids@ok.example" };
    for (const c of ["\u009b", "\u2028", "\u202e", "\u200b", "\u034f", "\u3164", "\u{1d173}", "\u{e0100}"])
      for (const key of ["idempotency_key", "approval_id"]) {
        const refused = await client.callTool({ name: "noop.ping", arguments: args, _meta: { [key]: `k${c}` } });
        expect(refused.isError).toBe(true);
        expect(structured(refused)).toMatchObject({
          code: "VALIDATION_FAILED",
          errors: [{ pointer: `/body/${key}`, message: expect.stringContaining("bidi or invisible") }],
        });
      }
  });

  it("params holding constructor.prototype are refused before the engine (400 INVALID_JSON), as __proto__ is", async () => {
    const before = (await operator(g).get("/interactions")).body.items.length;
    for (const params of [{ constructor: { prototype: { x: 1 } } }, { a: [{ constructor: { prototype: {} } }] }])
      await expect(
        client.callTool({ name: "noop.ping", arguments: { params, counterparty: "proto@ok.example" } }),
      ).rejects.toThrow(/must not contain __proto__ or constructor\.prototype/);
    expect((await operator(g).get("/interactions")).body.items.length).toBe(before);
    // A constructor member that is no object with a prototype is a call like any other.
    const fine = await client.callTool({
      name: "noop.ping",
      arguments: { params: { constructor: "Acme", b: { prototype: 1 } }, counterparty: "proto@ok.example" },
    });
    expect(structured(fine)).toMatchObject({ decision: "ALLOW" });
  });

  it("hostile or malformed arguments are refused with a clear error before the engine", async () => {
    const flat = await client.callTool({ name: "email.send", arguments: { to: "ann@ok.example" } });
    expect(flat.isError).toBe(true);
    expect(structured(flat)).toMatchObject({ code: "VALIDATION_FAILED" });
    expect(structured(flat).message).toContain("'params'");
    const amount = await client.callTool({
      name: "email.send",
      arguments: { params: {}, counterparty: "a@ok.example", amount: "12" },
    });
    expect(structured(amount)).toMatchObject({ code: "VALIDATION_FAILED" });
    // No params, or null params: refused as REST refuses them, never run with empty params.
    for (const args of [undefined, {}, { params: null }]) {
      const missing = await client.callTool({ name: "email.send", ...(args ? { arguments: args } : {}) });
      expect(missing.isError).toBe(true);
      expect(structured(missing)).toMatchObject({ code: "VALIDATION_FAILED" });
    }
  });

  it("ESCALATE approved over REST while the call waits: the call runs and answers its result", async () => {
    let approvalId: string | undefined;
    let approving: Promise<unknown> | undefined;
    const result = await client.callTool(
      { name: "crm.delete", arguments: { params: { id: "c-1" }, counterparty: "c1@ok.example" } },
      undefined,
      {
        onprogress: (p) => {
          approvalId ??= /appr-[0-9a-f-]+/.exec(p.message ?? "")?.[0];
          if (approvalId && !approving)
            approving = operator(g).post(`/approvals/${approvalId}/approve`, { reason: "ok" });
        },
      },
    );
    expect(approvalId).toBeDefined();
    expect(result.isError).toBe(false);
    expect(structured(result)).toMatchObject({ status: "executed", decision: "ALLOW", executed: true });
    expect((await operator(g).get(`/approvals/${approvalId}`)).body.status).toBe("consumed");
  });

  it("ESCALATE denied over REST while the call waits: APPROVAL_DENIED, without the operator's private note", async () => {
    let approvalId: string | undefined;
    let denying: Promise<unknown> | undefined;
    const result = await client.callTool(
      { name: "crm.delete", arguments: { params: { id: "c-9" }, counterparty: "c9@ok.example" } },
      undefined,
      {
        onprogress: (p) => {
          approvalId ??= /appr-[0-9a-f-]+/.exec(p.message ?? "")?.[0];
          if (approvalId && !denying)
            denying = operator(g).post(`/approvals/${approvalId}/deny`, { reason: "not for this agent, ask Carol" });
        },
      },
    );
    expect(approvalId).toBeDefined();
    expect(result.isError).toBe(true);
    expect(structured(result)).toMatchObject({ decision: "ESCALATE", executed: false });
    expect(JSON.stringify(result)).toContain("APPROVAL_DENIED");
    // As the agent's REST view of an approval: who decided and why is the operators' (review R12).
    expect(JSON.stringify(result)).not.toContain("Carol");
  });

  it("ESCALATE not approved in time: pending with the approval_id; a retry with it in _meta runs the call", async () => {
    const args = { params: { id: "c-2" }, counterparty: "c2@ok.example" };
    const pending = await client.callTool({ name: "crm.delete", arguments: args });
    expect(pending.isError).toBe(false);
    expect(structured(pending)).toMatchObject({ status: "pending", decision: "ESCALATE", executed: false });
    const approvalId = structured(pending).approval_id as string;
    expect(approvalId).toBeTruthy();

    // The operator sees it in the same queue; the agent can ask for its state.
    const queue = await operator(g).get("/approvals?status=pending");
    expect(JSON.stringify(queue.body)).toContain(approvalId);
    const status = await client.callTool({ name: "gatehouse.approval_status", arguments: { approval_id: approvalId } });
    expect(structured(status)).toMatchObject({ approval_id: approvalId, status: "pending" });

    expect((await operator(g).post(`/approvals/${approvalId}/approve`, { reason: "later" })).status).toBe(200);
    const retried = await client.callTool({ name: "crm.delete", arguments: args, _meta: { approval_id: approvalId } });
    expect(structured(retried)).toMatchObject({ status: "executed", decision: "ALLOW", executed: true });
  });

  it("the approval status tool refuses an approval_id breaking the id rule, as REST's path refuses it", async () => {
    // REST's GET …/approvals/{id} refuses these (400, the spec's id rule); the tool only bounded the length, and
    // looked a NUL up in the store (which PostgreSQL cannot compare) or an invisible tag character as if an id.
    for (const approvalId of ["appr-\u0000x", "appr-\u{E0041}", "appr-\u202ex", "appr-\u034fx", "appr-\u{1D173}"]) {
      const status = await client.callTool({
        name: "gatehouse_approval_status",
        arguments: { approval_id: approvalId },
      });
      expect(status.isError).toBe(true);
      expect(structured(status)).toMatchObject({
        code: "VALIDATION_FAILED",
        errors: [{ pointer: "/arguments/approval_id", message: expect.stringMatching(/^must not hold control/) }],
      });
    }
  });

  it("a person's approval is theirs: the org's API key claiming that person on REST cannot use it", async () => {
    const alice = await mcpClient(endpoint(), {
      Authorization: `Bearer ${await g.userTokenFor(g.orgId, "alice@approvals", ["operator"])}`,
    });
    try {
      const args = { params: { id: "c-alice" }, counterparty: "alice@ok.example" };
      const pending = await alice.callTool({ name: "crm.delete", arguments: args });
      const approvalId = structured(pending).approval_id as string;
      expect((await operator(g).post(`/approvals/${approvalId}/approve`, { reason: "for alice" })).status).toBe(200);

      const rest = (context: Record<string, unknown>) =>
        agent(g).post(
          "/api/v1/gateway/execute",
          executeBody(UAPK, { type: "crm", tool: "delete", ...args }, { approval_id: approvalId, context }),
        );
      // Claiming the gateway's own channel is refused outright; claiming only the person binds another action.
      const claimedChannel = await rest({ channel: "mcp", user: "alice@approvals" });
      expect(claimedChannel.status).toBe(400);
      expect(claimedChannel.body.errors).toEqual([expect.objectContaining({ pointer: "/body/context/channel" })]);
      const claimedUser = await rest({ user: "alice@approvals" });
      expect(claimedUser.body).toMatchObject({ executed: false });
      expect(claimedUser.body.decision).not.toBe("ALLOW");
      expect((await operator(g).get(`/approvals/${approvalId}`)).body.status).toBe("approved");

      // Alice's own retry still runs it, once.
      const retried = await alice.callTool({ name: "crm.delete", arguments: args, _meta: { approval_id: approvalId } });
      expect(structured(retried)).toMatchObject({ status: "executed", decision: "ALLOW", executed: true });
      expect((await operator(g).get(`/approvals/${approvalId}`)).body.status).toBe("consumed");
    } finally {
      await alice.close();
    }
  });

  it.each([
    ["answered as JSON", undefined],
    ["answered as a stream", { progressToken: "p-gone" }],
  ])(
    "a caller that leaves while its call waits for approval (%s): the call is not run when approved",
    async (_how, meta) => {
      const target = `gone-${meta ? "sse" : "json"}`;
      const leaving = new AbortController();
      const call = fetch(endpoint(), {
        method: "POST",
        signal: leaving.signal,
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "x-api-key": g.apiKey,
          "mcp-session-id": (client.transport as { sessionId?: string }).sessionId!,
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: `call-${target}`,
          method: "tools/call",
          params: {
            name: "crm.delete",
            arguments: { params: { id: target }, counterparty: `${target}@ok.example` },
            ...(meta ? { _meta: meta } : {}),
          },
        }),
      }).then((response) => response.text());
      const approvalOf = async () => {
        const { body } = await operator(g).get("/approvals?status=pending");
        return (body.items as Array<{ approval_id: string; action: { params: { id?: string } } }>).find(
          (a) => a.action.params.id === target,
        )?.approval_id;
      };
      await expect.poll(approvalOf).toBeTruthy();
      const approvalId = (await approvalOf())!;
      leaving.abort();
      await call.catch(() => undefined);
      await new Promise((r) => setTimeout(r, 300));

      expect((await operator(g).post(`/approvals/${approvalId}/approve`, { reason: "ok" })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 500)); // several progress intervals: a waiting call would have run by now
      // Still approved, not consumed: the agent runs it once with _meta.approval_id when it comes back.
      expect((await operator(g).get(`/approvals/${approvalId}`)).body.status).toBe("approved");
    },
  );

  it("refuses a request without credentials with 401 problem+json before any JSON-RPC", async () => {
    const response = await fetch(endpoint(), {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(await response.json()).toMatchObject({ status: 401, code: "UNAUTHORIZED" });
    // Agents authenticate with a key or a bearer token here: the challenge offers both.
    expect(response.headers.get("www-authenticate")).toBe(
      'ApiKey realm="gatehouse", header="X-API-Key", Bearer realm="gatehouse"',
    );
    await expect(mcpClient(endpoint(), { "X-API-Key": "wrong-key-123" })).rejects.toThrow();
  });

  it("an Accept the transport cannot answer → 406 problem+json, and initialize opens no session for it", async () => {
    const initialize = {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "curl", version: "0" } },
    };
    const response = await fetch(endpoint(), {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json", "x-api-key": g.apiKey },
      body: JSON.stringify(initialize),
    });
    expect(response.status).toBe(406);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
    expect(response.headers.get("mcp-session-id")).toBeNull();
    expect(await response.json()).toMatchObject({
      status: 406,
      code: "NOT_ACCEPTABLE",
      detail:
        "MCP requests must accept application/json and text/event-stream: send Accept: application/json, text/event-stream",
    });
  });

  /** A session opened with raw HTTP (no SDK client, so no GET stream of its own): its id. */
  async function rawSession(headers: Record<string, string> = {}): Promise<string> {
    const response = await fetch(endpoint(), {
      method: "POST",
      headers: { ...rawHeaders, "content-type": "application/json", ...headers },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "curl", version: "0" } },
      }),
    });
    expect(response.status).toBe(200);
    await response.text();
    return response.headers.get("mcp-session-id")!;
  }
  const rawHeaders = { accept: "application/json, text/event-stream", "x-api-key": "" };
  beforeAll(() => {
    rawHeaders["x-api-key"] = g.apiKey;
  });
  const listTools = { jsonrpc: "2.0", id: 2, method: "tools/list" };

  it("an unsupported Mcp-Protocol-Version → 400 problem+json naming the supported ones, on POST, GET and DELETE", async () => {
    // At initialize the version is negotiated in the body: the header is not checked there (as the SDK does).
    const sessionId = await rawSession({ "mcp-protocol-version": "1999-01-01" });
    const headers = { ...rawHeaders, "mcp-session-id": sessionId, "mcp-protocol-version": "1999-01-01" };
    for (const init of [
      { method: "POST", headers: { ...headers, "content-type": "application/json" }, body: JSON.stringify(listTools) },
      {
        method: "POST",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify([listTools]),
      },
      { method: "GET", headers: { ...headers, accept: "text/event-stream" } },
      { method: "DELETE", headers },
    ]) {
      const response = await fetch(endpoint(), init);
      expect(response.status, init.method).toBe(400);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      expect(await response.json()).toMatchObject({
        status: 400,
        code: "VALIDATION_FAILED",
        detail: `Unsupported Mcp-Protocol-Version 1999-01-01: send one of ${SUPPORTED_PROTOCOL_VERSIONS.join(", ")}`,
        errors: [{ pointer: "/headers/mcp-protocol-version" }],
      });
    }
    // A long value is quoted clipped, not echoed whole.
    const long = await fetch(endpoint(), {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "mcp-protocol-version": "9".repeat(4000) },
      body: JSON.stringify(listTools),
    });
    expect(long.status).toBe(400);
    expect(((await long.json()) as { detail: string }).detail.length).toBeLessThan(600);
    // Nothing was done for them: the session (not deleted) answers a supported version.
    const ok = await fetch(endpoint(), {
      method: "POST",
      headers: { ...headers, "content-type": "application/json", "mcp-protocol-version": "2025-06-18" },
      body: JSON.stringify(listTools),
    });
    expect(ok.status).toBe(200);
  });

  it("a second GET event stream on one session → 409 problem+json MCP_STREAM_OPEN; the first stays open", async () => {
    const sessionId = await rawSession();
    const headers = { ...rawHeaders, accept: "text/event-stream", "mcp-session-id": sessionId };
    const first = new AbortController();
    const stream = await fetch(endpoint(), { headers, signal: first.signal });
    expect(stream.status).toBe(200);
    try {
      const second = await fetch(endpoint(), { headers });
      expect(second.status).toBe(409);
      expect(second.headers.get("content-type")).toContain("application/problem+json");
      expect(await second.json()).toMatchObject({ status: 409, code: "MCP_STREAM_OPEN" });
      // The first stream was not disturbed by the refusal: it still delivers.
      const reader = stream.body!.getReader();
      const read = reader.read().then(
        () => "open",
        () => "ended",
      );
      const timeout = new Promise((r) => setTimeout(() => r("open"), 300));
      expect(await Promise.race([read, timeout])).toBe("open");
    } finally {
      first.abort();
    }
  });

  it("a session is bound to its credential: another caller cannot use its id", async () => {
    const other = await g.userTokenFor(g.orgId, "someone@else", ["operator"]);
    const response = await fetch(endpoint(), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: `Bearer ${other}`,
        "mcp-session-id": (client.transport as { sessionId?: string }).sessionId!,
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(response.status).toBe(404);
  });

  it("a person's session is bound to their org too: the same sub in another org cannot use its id", async () => {
    const own = await mcpClient(endpoint(), {
      Authorization: `Bearer ${await g.userTokenFor(g.orgId, "dev@shared-sub", ["operator"])}`,
    });
    try {
      const sessionId = (own.transport as { sessionId?: string }).sessionId!;
      const asOtherOrg = await g.userTokenFor("other-org", "dev@shared-sub", ["operator"]);
      const response = await fetch(endpoint(), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          authorization: `Bearer ${asOtherOrg}`,
          "mcp-session-id": sessionId,
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
      });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({ code: "MCP_SESSION_NOT_FOUND" });
      // Its owner still uses it.
      expect((await own.listTools()).tools.length).toBeGreaterThan(0);
    } finally {
      await own.close();
    }
  });

  it("a call that asks for no progress is answered as JSON; one with a progressToken as an SSE stream", async () => {
    const call = (id: number, meta?: Record<string, unknown>) =>
      fetch(endpoint(), {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "x-api-key": g.apiKey,
          "mcp-session-id": (client.transport as { sessionId?: string }).sessionId!,
        },
        body: JSON.stringify({
          jsonrpc: "2.0",
          id,
          method: "tools/call",
          params: {
            name: "email.send",
            arguments: { params: { to: "ann@ok.example" }, counterparty: "ann@ok.example" },
            ...(meta ? { _meta: meta } : {}),
          },
        }),
      });
    const plain = await call(9001);
    expect(plain.headers.get("content-type")).toBe("application/json");
    expect(await plain.json()).toMatchObject({ jsonrpc: "2.0", id: 9001, result: { isError: false } });
    const streamed = await call(9002, { progressToken: "p-1" });
    expect(streamed.headers.get("content-type")).toBe("text/event-stream");
    const event = /^data: (.+)$/m.exec(await streamed.text())?.[1];
    expect(JSON.parse(event!)).toMatchObject({ jsonrpc: "2.0", id: 9002, result: { isError: false } });
  });

  it("every call is audited with the MCP session, and the export verifies with the CLI's verifier", async () => {
    const { text, records } = await exportedRecords(g);
    const sessionId = (client.transport as { sessionId?: string }).sessionId;
    const mcpRecords = records.filter((r) => JSON.stringify(r).includes(`"mcp_session_id":"${sessionId}"`));
    expect(mcpRecords.map((r) => r.kind)).toEqual(expect.arrayContaining(["decision", "intent", "outcome"]));
    const work = mkdtempSync(join(tmpdir(), "gatehouse-mcp-audit-"));
    try {
      writeFileSync(join(work, "export.jsonl"), text);
      const jwks = await fetch(`${g.url}/.well-known/jwks.json`).then((r) => r.json());
      writeFileSync(join(work, "jwks.json"), JSON.stringify(jwks));
      const out: string[] = [];
      const code = await runAuditVerify([join(work, "export.jsonl"), "--jwks", join(work, "jwks.json")], {
        stdout: (l) => out.push(l),
        stderr: (l) => out.push(l),
      });
      expect(code, out.join("\n")).toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
