// The stdio bridge (`gatehouse mcp-stdio`, a separate process an MCP client launches) and the purutos endpoint.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGatehouse, type TestGatehouse } from "../../../test-support/gatehouse";
import { operator } from "../../../test-support/http";
import { mcpClient, registerMcpBot, UAPK } from "../../../test-support/mcp";

const REPO = resolve(import.meta.dirname, "../../../..");
let g: TestGatehouse;

beforeAll(async () => {
  g = await startTestGatehouse();
  await registerMcpBot(g);
});

afterAll(async () => {
  await g?.dispose();
});

const structured = (r: unknown) => (r as { structuredContent?: Record<string, any> }).structuredContent!;

describe("gatehouse mcp-stdio", () => {
  it("bridges a stdio MCP client to the agent's governed tools", async () => {
    const client = new Client({ name: "stdio-e2e", version: "1.0.0" });
    await client.connect(
      new StdioClientTransport({
        command: resolve(REPO, "node_modules/.bin/tsx"),
        args: ["src/cli/main.ts", "mcp-stdio", "--url", g.url, "--agent", UAPK],
        cwd: REPO,
        env: { PATH: process.env.PATH ?? "", GATEHOUSE_API_KEY: g.apiKey, LOG_LEVEL: "silent" },
        stderr: "pipe",
      }),
    );
    try {
      const { tools } = await client.listTools();
      expect(tools.map((t) => t.name)).toContain("noop_ping");
      const ok = await client.callTool({ name: "noop_ping", arguments: { params: {}, counterparty: "a@ok.example" } });
      expect(structured(ok)).toMatchObject({ decision: "ALLOW", executed: true });
      const denied = await client.callTool({
        name: "noop_ping",
        arguments: { params: {}, counterparty: "x@blocked.example" },
      });
      expect(denied.isError).toBe(true);
      expect(structured(denied).reasons[0].code).toBe("COUNTERPARTY_BLOCKED");
    } finally {
      await client.close();
    }
  });
});

/** A JSON-RPC message the bridge wrote. */
type Written = { id?: number | null; result?: any; error?: any };

/** `gatehouse mcp-stdio` for the test's agent, as a user would start it. */
function spawnBridge(url = g.url) {
  return spawn(
    resolve(REPO, "node_modules/.bin/tsx"),
    ["src/cli/main.ts", "mcp-stdio", "--url", url, "--agent", UAPK],
    { cwd: REPO, env: { PATH: process.env.PATH ?? "", GATEHOUSE_API_KEY: g.apiKey, LOG_LEVEL: "silent" } },
  );
}

/** Runs the bridge with `lines` written to its stdin at once, then closed; the JSON-RPC messages it wrote. */
async function bridgeAllAtOnce(lines: (object | string)[]): Promise<Written[]> {
  const child = spawnBridge();
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stdin.write(lines.map((l) => `${typeof l === "string" ? l : JSON.stringify(l)}\n`).join(""));
  const messages = () =>
    out
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  try {
    await expect.poll(() => messages().filter((m) => m.id === 2).length, { timeout: 20_000 }).toBe(1);
    return messages();
  } finally {
    child.stdin.end();
    child.kill();
  }
}

/** The initialize request of a client named `name` (id 1). */
const initialize = (name: string) => ({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name, version: "0" } },
});

describe("gatehouse mcp-stdio, a client that does not wait for the initialize result", () => {
  it("answers requests written right behind initialize, in the session initialize opened", async () => {
    const messages = await bridgeAllAtOnce([
      initialize("hasty"),
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
    ]);
    const list = messages.find((m) => m.id === 2)!;
    // Before: -32000 "… MCP_SESSION_REQUIRED": the request left before the session id was known.
    expect(list.error).toBeUndefined();
    expect(list.result.tools.map((t: { name: string }) => t.name)).toContain("noop_ping");
  }, 30_000);
});

describe("gatehouse mcp-stdio, lines that are not JSON-RPC", () => {
  it("answers bad JSON with -32700 and a non-message with -32600 (id null), and goes on with the next request", async () => {
    const messages = await bridgeAllAtOnce([
      initialize("sloppy"),
      "not json",
      { hello: "world" },
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
    ]);
    const unread = messages.filter((m) => m.id === null).map((m) => m.error.code);
    expect(unread).toEqual([-32700, -32600]);
    expect(messages.find((m) => m.id === 2)?.result.tools.length).toBeGreaterThan(0);
  }, 30_000);

  it("refuses, as the HTTP door does, a line whose JSON.parse would change it: a repeated name, 1e309", async () => {
    // The SDK parses each line and the HTTP transport re-serialises it: a repeated "name" reached the gateway once
    // (the last one ran) and 1e309 as null, run and audited as something the client never sent.
    const before = await auditedLines();
    const call = (id: number, params: string) =>
      `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"noop_ping","arguments":{"params":${params}}}}`;
    const messages = await bridgeAllAtOnce([
      initialize("re-serialised"),
      { jsonrpc: "2.0", method: "notifications/initialized" },
      call(3, '{"x":1e309}'),
      `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"nope","arguments":{"params":{}},"name":"noop_ping"}}`,
      call(5, '{"a":1,"a":2}'),
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
    ]);
    const answers = Object.fromEntries(messages.filter((m) => m.id !== 1).map((m) => [m.id, m.error ?? "result"]));
    expect(answers[3]).toMatchObject({ code: -32600, message: expect.stringContaining("/params/arguments/params/x") });
    expect(answers[4]).toMatchObject({
      code: -32700,
      message: expect.stringContaining('repeats the member name "name"'),
    });
    expect(answers[5]).toMatchObject({ code: -32700, message: expect.stringContaining('"a"') });
    expect(answers[2]).toBe("result");
    // Nothing of them ran: the audit holds no new record.
    expect(await auditedLines()).toEqual(before);
  }, 30_000);
});

/** How many lines the org's audit export holds: a call that ran adds its intent and outcome. */
async function auditedLines(): Promise<number> {
  const { status, text } = await operator(g).get("/interactions/export");
  expect(status).toBe(200);
  return text.split("\n").filter(Boolean).length;
}

/**
 * Runs the bridge with `lines` written to its stdin, which is then closed (as `printf … | gatehouse mcp-stdio` does);
 * `whileEnded` runs after that. The bridge's exit code and the JSON-RPC messages it wrote.
 */
async function bridgeToEndOfInput(
  lines: object[],
  whileEnded: () => Promise<unknown> = async () => undefined,
  url = g.url,
): Promise<{ code: number | null; messages: Written[] }> {
  const child = spawnBridge(url);
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  // "close", not "exit": it comes after stdout has been read to its end.
  const exited = new Promise<number | null>((done) => child.once("close", done));
  try {
    child.stdin.end(lines.map((l) => `${JSON.stringify(l)}\n`).join(""));
    await whileEnded();
    const code = await exited;
    return {
      code,
      messages: out
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l)),
    };
  } finally {
    child.kill();
  }
}

/** A proxy in front of `target` that records each request's method, Mcp-Session-Id and answer status. */
async function recordingProxy(target: string, options: { neverAnswerDelete?: boolean } = {}) {
  const seen: { method: string; session: string | undefined; status: number }[] = [];
  const server = createServer(async (req, res) => {
    // A gateway that takes the DELETE and never answers it (a hung node behind the address).
    if (options.neverAnswerDelete && req.method === "DELETE") return;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers))
      if (typeof value === "string" && !["host", "connection", "content-length"].includes(name))
        headers.set(name, value);
    const aborted = new AbortController();
    res.once("close", () => aborted.abort());
    try {
      const answer = await fetch(`${target}${req.url}`, {
        method: req.method!,
        headers,
        signal: aborted.signal,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      seen.push({
        method: req.method!,
        session: req.headers["mcp-session-id"] as string | undefined,
        status: answer.status,
      });
      const out: Record<string, string> = {};
      answer.headers.forEach((value, name) => {
        if (name !== "content-length" && name !== "content-encoding") out[name] = value;
      });
      res.writeHead(answer.status, out);
      if (answer.body) for await (const chunk of answer.body) res.write(chunk);
      res.end();
    } catch {
      res.destroy();
    }
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

describe("gatehouse mcp-stdio, input that ends while requests are in flight", () => {
  it("answers every request read before the end of input, then exits 0", async () => {
    const { code, messages } = await bridgeToEndOfInput([
      initialize("piped"),
      { jsonrpc: "2.0", method: "notifications/initialized" },
      { jsonrpc: "2.0", id: 2, method: "tools/list" },
      {
        jsonrpc: "2.0",
        id: 3,
        method: "tools/call",
        params: { name: "email.send", arguments: { params: { to: "eof" }, counterparty: "eof@ok.example" } },
      },
    ]);
    // Before: id 1 got -32000 "Gatehouse: This operation was aborted", ids 2 and 3 nothing, while the call
    // could still run on the gateway.
    expect(code).toBe(0);
    expect(messages.map((m) => m.id)).toEqual(expect.arrayContaining([1, 2, 3]));
    expect(messages.filter((m) => m.error)).toEqual([]);
    expect(messages.find((m) => m.id === 2)?.result.tools.map((t: { name: string }) => t.name)).toContain("noop_ping");
    expect(messages.find((m) => m.id === 3)?.result.structuredContent).toMatchObject({
      decision: "ALLOW",
      executed: true,
    });
  }, 30_000);

  it("ends its session on the gateway (DELETE) before it exits: a run leaves no session in the pool", async () => {
    const proxy = await recordingProxy(g.url);
    try {
      const { code, messages } = await bridgeToEndOfInput(
        [
          initialize("leaving"),
          { jsonrpc: "2.0", method: "notifications/initialized" },
          { jsonrpc: "2.0", id: 2, method: "tools/list" },
        ],
        async () => undefined,
        proxy.url,
      );
      expect(code).toBe(0);
      expect(messages.find((m) => m.id === 2)?.result).toBeDefined();
      const sessionId = proxy.seen.find((r) => r.session)?.session;
      expect(sessionId).toBeDefined();
      // Before: no DELETE, and the session still answered until it went idle.
      expect(proxy.seen.filter((r) => r.method === "DELETE")).toEqual([
        { method: "DELETE", session: sessionId, status: 200 },
      ]);
      const after = await fetch(`${g.url}/mcp/agents/${UAPK}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "x-api-key": g.apiKey,
          "mcp-session-id": sessionId!,
        },
        body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/list" }),
      });
      expect(after.status).toBe(404);
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it("exits even when the gateway never answers its DELETE", async () => {
    const proxy = await recordingProxy(g.url, { neverAnswerDelete: true });
    try {
      const { code, messages } = await bridgeToEndOfInput(
        [
          initialize("hung-delete"),
          { jsonrpc: "2.0", method: "notifications/initialized" },
          { jsonrpc: "2.0", id: 2, method: "tools/list" },
        ],
        async () => undefined,
        proxy.url,
      );
      // Before: the bridge waited for the DELETE's answer for ever (this test's own timeout ended it).
      expect(code).toBe(0);
      expect(messages.find((m) => m.id === 2)?.result).toBeDefined();
    } finally {
      await proxy.close();
    }
  }, 30_000);

  it("a call waiting for a human approval is not cut: approved after the end of input, it runs and is answered", async () => {
    const target = "eof-approval";
    const approve = async () => {
      const pendingOne = async () => {
        const { body } = await operator(g).get("/approvals?status=pending");
        return (body.items as Array<{ approval_id: string; action: { params: { id?: string } } }>).find(
          (a) => a.action.params.id === target,
        )?.approval_id;
      };
      await expect.poll(pendingOne, { timeout: 15_000 }).toBeTruthy();
      expect((await operator(g).post(`/approvals/${await pendingOne()}/approve`, { reason: "ok" })).status).toBe(200);
    };
    const { code, messages } = await bridgeToEndOfInput(
      [
        initialize("approving"),
        { jsonrpc: "2.0", method: "notifications/initialized" },
        {
          jsonrpc: "2.0",
          id: 2,
          method: "tools/call",
          params: { name: "crm.delete", arguments: { params: { id: target }, counterparty: `${target}@ok.example` } },
        },
      ],
      approve,
    );
    expect(code).toBe(0);
    expect(messages.find((m) => m.id === 2)?.result.structuredContent).toMatchObject({
      status: "executed",
      executed: true,
    });
  }, 30_000);
});

describe("MCP purutos endpoint", () => {
  it("lists each allowed puruto command as puruto_command and runs it through the invoker", async () => {
    const client = await mcpClient(`${g.url}/mcp/purutos`, { "X-API-Key": g.apiKey });
    try {
      // It describes these tools, not the governed ones of /mcp/agents (no policy, audit or approval_status here).
      const instructions = client.getInstructions() ?? "";
      expect(instructions).toContain("<puruto>_<command>");
      expect(instructions).not.toMatch(/approval_status|ESCALATE|audited/);
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name);
      expect(names).toContain("puruto-financial_balance");
      expect(names).toContain("puruto-financial_status");
      const balance = await client.callTool({ name: "puruto-financial_balance", arguments: { account: "main" } });
      expect(balance.isError).toBe(false);
      expect(structured(balance).invocation).toMatchObject({
        status: "ok",
        result: { accounts: { main: expect.any(Number) } },
      });
      // Outside the allow list: refused with the REST face's code.
      const refused = await client.callTool({ name: "puruto-financial.deploy", arguments: {} });
      expect(refused.isError).toBe(true);
      expect(structured(refused).code).toMatch(/COMMAND_NOT_ALLOWED|PURUTO_NOT_FOUND/);
    } finally {
      await client.close();
    }
  });

  it("takes the API key only, as its REST operations do: a bearer token is refused with 401", async () => {
    const response = await fetch(`${g.url}/mcp/purutos`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        authorization: `Bearer ${g.operatorToken}`,
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {} }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
  });

  it("a body over the REST limit is refused with 413 problem+json", async () => {
    const response = await fetch(`${g.url}/mcp/agents/${UAPK}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "x-api-key": g.apiKey,
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { pad: "x".repeat(2 * 1024 * 1024) },
      }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
  });
});

/** A puruto folder with one skill that has an executable `run`; returns the puruto's folder. */
function writeRunnableSkill(root: string, puruto: string, skill: string, run: string): string {
  const dir = join(root, puruto, ".claude", "skills", skill);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "SKILL.md"), `---\nname: ${skill}\ndescription: ${skill}\n---\n`);
  writeFileSync(join(dir, "run"), run);
  chmodSync(join(dir, "run"), 0o755);
  return join(root, puruto);
}

describe("MCP purutos endpoint, purutos whose names hold dots", () => {
  it("lists each tool name once, and a tool runs the command it was listed for", async () => {
    // `puruto-m` has a skill `x.wipe`, `puruto-m.x` a skill `wipe`: both used to be listed as `puruto-m.x.wipe`,
    // and calling that name ran `puruto-m.x`'s `wipe` whichever one the client meant.
    const root = mkdtempSync(join(tmpdir(), "gatehouse-mcp-dots-"));
    const says = (who: string) => `#!/bin/sh\necho '{"who":"${who}"}'\n`;
    writeRunnableSkill(root, "puruto-m", "x.wipe", says("puruto-m x.wipe"));
    writeRunnableSkill(root, "puruto-m.x", "wipe", says("puruto-m.x wipe"));
    const dots = await startTestGatehouse({
      env: { GATEHOUSE_ECOSYSTEM_ROOT: root, PURUTO_DATA_PATH: "", GATEHOUSE_EXTRA_COMMANDS: "*" },
    });
    const client = await mcpClient(`${dots.url}/mcp/purutos`, { "X-API-Key": dots.apiKey });
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(new Set(names).size).toBe(names.length);
      expect(names.filter((n) => n === "puruto-m_x_wipe")).toHaveLength(1);
      const wipe = await client.callTool({ name: "puruto-m_x_wipe", arguments: {} });
      expect(structured(wipe)).toMatchObject({
        target: "puruto-m.x",
        invocation: { result: { who: "puruto-m.x wipe" } },
      });
      // REST refuses the dotted skill too, saying why.
      const rest = await fetch(`${dots.url}/purutos/puruto-m/x.wipe`, {
        method: "POST",
        headers: { "x-api-key": dots.apiKey },
      });
      expect(rest.status).toBe(400);
      const problem = (await rest.json()) as { errors: { message: string }[] };
      expect(problem.errors[0]?.message).toMatch(/x\.wipe is a skill of puruto-m whose name cannot be a command/);
    } finally {
      await client.close();
      await dots.dispose();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("MCP purutos endpoint, hostile arguments", () => {
  it("refuses arguments nested 50k deep or holding 1e309 with 400 problem+json, as REST does, and runs nothing", async () => {
    const root = mkdtempSync(join(tmpdir(), "gatehouse-mcp-bounds-"));
    const purutoDir = writeRunnableSkill(root, "puruto-t", "touch", "#!/bin/sh\ncat > ran.json\necho '{}'\n");
    const bounded = await startTestGatehouse({
      env: { GATEHOUSE_ECOSYSTEM_ROOT: root, PURUTO_DATA_PATH: "", GATEHOUSE_EXTRA_COMMANDS: "touch" },
    });
    const post = (body: string, session?: string) =>
      fetch(`${bounded.url}/mcp/purutos`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json, text/event-stream",
          "x-api-key": bounded.apiKey,
          ...(session ? { "mcp-session-id": session } : {}),
        },
        body,
      });
    const call = (args: string) =>
      `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"puruto-t.touch","arguments":${args}}}`;
    try {
      const init = await post(
        JSON.stringify({
          jsonrpc: "2.0",
          id: 1,
          method: "initialize",
          params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "t", version: "1" } },
        }),
      );
      const session = init.headers.get("mcp-session-id") ?? undefined;
      expect(session).toBeTruthy();
      for (const args of [`{"a":${"[".repeat(50_000)}${"]".repeat(50_000)}}`, '{"amount":1e309}']) {
        const refused = await post(call(args), session);
        expect(refused.status).toBe(400);
        expect(refused.headers.get("content-type")).toContain("application/problem+json");
        expect(await refused.json()).toMatchObject({ code: "VALIDATION_FAILED" });
      }
      expect(existsSync(join(purutoDir, "ran.json"))).toBe(false);
      // The same session still runs a well-formed call.
      const ok = await post(call('{"amount":1}'), session);
      expect(ok.status).toBe(200);
      expect(JSON.parse(readFileSync(join(purutoDir, "ran.json"), "utf8"))).toEqual({ amount: 1 });
    } finally {
      await bounded.dispose();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
