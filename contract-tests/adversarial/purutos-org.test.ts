// Issue 10 §5 on the real server: purutos belong to one org (GATEHOUSE_PURUTO_ORG, default the default org).
// Another org's API key — valid, just not theirs — gets 403 ORG_FORBIDDEN on list, get and invoke (REST) and on
// /mcp/purutos, the same answer for a puruto that exists and one that does not, and nothing runs. That answer
// comes before anything of the request is read or validated (403, never 400/404/413/415 with details). `/health`
// (open to anyone) shows no absolute path.
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ECOSYSTEM, startTestGatehouse, type TestGatehouse } from "../fixtures";

let g: TestGatehouse;
let strangerKey: string;

beforeAll(async () => {
  // A second, missing root: discovery reports it as a problem, which /health must show without its path.
  g = await startTestGatehouse({
    env: { GATEHOUSE_ECOSYSTEM_ROOT: `${ECOSYSTEM}:/nonexistent-gatehouse-root/puruto-secret` },
  });
  strangerKey = (await g.apiKeys.create("org-stranger", "another org's agent")).key;
});
afterAll(() => g.dispose());

async function call(path: string, key: string, init: RequestInit = {}) {
  const res = await fetch(g.url + path, { ...init, headers: { "x-api-key": key, ...(init.headers ?? {}) } });
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type") ?? "", body: text ? JSON.parse(text) : {} };
}

const invoke = (name: string, command: string, key: string) =>
  call(`/purutos/${name}/${command}`, key, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ account: "main" }),
  });

describe("purutos belong to an org", () => {
  it("the owning org's key lists, reads and runs them", async () => {
    expect((await call("/purutos", g.apiKey)).status).toBe(200);
    expect((await call("/purutos/puruto-financial", g.apiKey)).status).toBe(200);
    expect((await invoke("puruto-financial", "balance", g.apiKey)).body).toMatchObject({ status: "accepted" });
  });

  it("another org's key gets 403 ORG_FORBIDDEN everywhere, identical for existing and unknown purutos", async () => {
    const answers = [
      await call("/purutos", strangerKey),
      await call("/purutos/puruto-financial", strangerKey),
      await call("/purutos/puruto-does-not-exist", strangerKey),
      await invoke("puruto-financial", "balance", strangerKey),
      await invoke("puruto-financial", "status", strangerKey),
      await invoke("puruto-does-not-exist", "status", strangerKey),
    ];
    for (const a of answers) {
      expect(a.status).toBe(403);
      expect(a.type).toContain("application/problem+json");
      expect(a.body).toMatchObject({ code: "ORG_FORBIDDEN" });
    }
    // Same detail whatever the name: no existence oracle.
    expect(new Set(answers.map((a) => a.body.detail)).size).toBe(1);
  });

  // Authorization before validation: whatever is wrong with the request, another org learns 403 and nothing about
  // what a valid path, query, payload or command looks like; the owner gets the validation answer for the same.
  const json = { "content-type": "application/json" };
  const post = (body: string, headers: Record<string, string> = json): RequestInit => ({
    method: "POST",
    headers,
    body,
  });
  const invalid: [string, string, RequestInit?][] = [
    ["list, bad limit", "/purutos?limit=abc"],
    ["list, unknown query parameter", "/purutos?limit=1&evil=1"],
    ["get, name over maxLength", `/purutos/${"p".repeat(300)}`],
    ["invoke, body not an object", "/purutos/puruto-financial/balance", post("[1]")],
    ["invoke, non-finite number", "/purutos/puruto-financial/balance", post('{"amount":1e309}')],
    ["invoke, JSON 100 deep", "/purutos/puruto-financial/balance", post(`${"[".repeat(100)}${"]".repeat(100)}`)],
    ["invoke, malformed JSON", "/purutos/puruto-financial/balance", post('{"account":')],
    ["invoke, not JSON", "/purutos/puruto-financial/balance", post("account=main", { "content-type": "text/plain" })],
    ["invoke, body over the size limit", "/purutos/puruto-financial/balance", post(`"${"x".repeat(1_100_000)}"`)],
    ["invoke, command over maxLength", `/purutos/puruto-financial/${"c".repeat(150)}`, post("{}")],
    ["invoke, unknown command, bad body", "/purutos/puruto-financial/deploy", post("[1]")],
    ["invoke, unknown puruto, bad body", "/purutos/puruto-nope/status", post("[1]")],
  ];

  it("another org gets 403 before any validation: never 400, 404, 413 or 415", async () => {
    const details = new Set<string>();
    for (const [what, path, init] of invalid) {
      const owner = await call(path, g.apiKey, init);
      expect([400, 404, 413, 415], `${what} (owner)`).toContain(owner.status);
      const stranger = await call(path, strangerKey, init);
      expect(stranger.status, what).toBe(403);
      expect(stranger.type, what).toContain("application/problem+json");
      expect(stranger.body, what).toMatchObject({ code: "ORG_FORBIDDEN" });
      expect(stranger.body.errors, what).toBeUndefined();
      details.add(stranger.body.detail);
    }
    expect(details.size).toBe(1);
  });

  it("/mcp/purutos answers another org 403 before reading its body, whatever the body", async () => {
    const mcp = { ...json, accept: "application/json, text/event-stream" };
    for (const init of [
      post('{"jsonrpc":', mcp),
      post("[1]", mcp),
      post("hello", { ...mcp, "content-type": "text/plain" }),
      post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "x" } }), mcp),
    ]) {
      const owner = await call("/mcp/purutos", g.apiKey, init);
      expect([400, 415]).toContain(owner.status);
      const stranger = await call("/mcp/purutos", strangerKey, init);
      expect(stranger.status).toBe(403);
      expect(stranger.body).toMatchObject({ code: "ORG_FORBIDDEN" });
    }
  });

  it("/mcp/purutos refuses another org's key before any session opens", async () => {
    const res = await call("/mcp/purutos", strangerKey, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "t", version: "1" } },
      }),
    });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: "ORG_FORBIDDEN" });
  });
});

describe("/health shows no absolute paths to anonymous callers", () => {
  it("sources and problems name folders by their last segment only", async () => {
    const res = await fetch(`${g.url}/health`);
    const body = (await res.json()) as { discovery?: { sources: string[]; problems: string[] } };
    expect(body.discovery?.problems.join("\n")).toContain("…/puruto-secret: ecosystem root not found");
    const text = JSON.stringify(body.discovery);
    for (const secret of [ECOSYSTEM, tmpdir(), "/nonexistent-gatehouse-root", process.cwd()])
      expect(text).not.toContain(secret);
    expect(text).not.toMatch(/(?<!…)\/[A-Za-z.]/);
  });
});
