// A user token names its person by `sub`. One whose `sub` is blank (spaces, or characters that show nothing) names
// nobody: approvals would be decided and audit records signed "by" no one. Such a token, however well signed and
// whatever roles it claims, is refused with 401 TOKEN_INVALID saying why, on REST and on the agent-session socket.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startTestGatehouse, type TestGatehouse } from "../test-support/gatehouse";

let g: TestGatehouse;

beforeAll(async () => {
  g = await startTestGatehouse();
});
afterAll(async () => {
  await g?.dispose();
});

const BLANK_SUB_DETAIL = "JWT sub claim is blank: it must name the user";

/** The refused upgrade's status and problem body (an accepted one fails the test). */
function refusedUpgrade(url: string, token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [], { headers: { authorization: `Bearer ${token}` } });
    ws.once("open", () => {
      ws.close();
      reject(new Error("upgrade was accepted"));
    });
    ws.once("unexpected-response", (_req, res) => {
      let text = "";
      res.on("data", (chunk: Buffer) => (text += chunk.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : {} }));
    });
    ws.once("error", () => undefined);
  });
}

describe("a user token with a blank sub", () => {
  // Spaces, an ideographic space, a zero-width space, a Hangul filler: each shows no name.
  const blanks = [" ", "   ", "\u3000", "\u200b", "\u3164", " \u200b "];

  it("is refused by the operator API (401 TOKEN_INVALID, saying why), operator role or not", async () => {
    for (const sub of blanks) {
      const token = await g.userTokenFor(g.orgId, sub, ["operator"]);
      const res = await fetch(`${g.url}/api/v1/orgs/${g.orgId}/approvals?limit=1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.status, JSON.stringify(sub)).toBe(401);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="gatehouse", error="invalid_token"');
      expect(await res.json()).toMatchObject({ code: "TOKEN_INVALID", detail: BLANK_SUB_DETAIL });
    }
  });

  it("is refused by the agent-session socket before the upgrade (401 TOKEN_INVALID)", async () => {
    for (const sub of blanks) {
      const token = await g.userTokenFor(g.orgId, sub, ["developer", "operator"]);
      const res = await refusedUpgrade(`${g.url.replace(/^http/, "ws")}/ws/blank-sub-session`, token);
      expect(res.status, JSON.stringify(sub)).toBe(401);
      expect(res.body).toMatchObject({ code: "TOKEN_INVALID", detail: BLANK_SUB_DETAIL });
    }
  });

  it("a name with spaces around or inside it still names the user", async () => {
    const token = await g.userTokenFor(g.orgId, " alice smith ", ["operator"]);
    const res = await fetch(`${g.url}/api/v1/orgs/${g.orgId}/approvals?limit=1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
  });
});
