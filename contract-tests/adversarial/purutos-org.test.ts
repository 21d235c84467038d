// Issue 10 §5 on the real server: purutos belong to one org (GATEHOUSE_PURUTO_ORG, default the default org).
// Another org's API key — valid, just not theirs — gets 403 ORG_FORBIDDEN on list, get and invoke (REST) and on
// /mcp/purutos, the same answer for a puruto that exists and one that does not, and nothing runs. `/health`
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
