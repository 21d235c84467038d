// Test support shared by the end-to-end tests of every face: HTTP calls against a real Gatehouse, manifests registered
// through the API, and a local HTTP receiver that counts what an http/webhook tool really sent.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { API_KEY, ORG_ID } from "./gatehouse";

export { API_KEY, ORG_ID };

export interface Reply<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

export interface Caller {
  url: string;
  /** Operator bearer token. */
  operatorToken: string;
}

async function call<T>(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<Reply<T>> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON (e.g. the JSONL export): keep the text
  }
  return { status: response.status, body: parsed as T, text, headers: response.headers };
}

/** As the agent (API key). */
export const agent = (g: Caller) => ({
  post: <T = any>(path: string, body: unknown) => call<T>(g.url, "POST", path, { "x-api-key": API_KEY }, body),
  get: <T = any>(path: string) => call<T>(g.url, "GET", path, { "x-api-key": API_KEY }),
});

/** As an operator of ORG_ID (bearer JWT). */
export const operator = (g: Caller) => ({
  post: <T = any>(path: string, body?: unknown) =>
    call<T>(g.url, "POST", `/api/v1/orgs/${ORG_ID}${path}`, { authorization: `Bearer ${g.operatorToken}` }, body),
  get: <T = any>(path: string) =>
    call<T>(g.url, "GET", `/api/v1/orgs/${ORG_ID}${path}`, { authorization: `Bearer ${g.operatorToken}` }),
});

/** Any path (not only the org's), as the operator of ORG_ID (bearer JWT). */
export const operatorRequest = <T = Record<string, unknown>>(g: Caller, method: string, path: string, body?: unknown) =>
  call<T>(g.url, method, path, { authorization: `Bearer ${g.operatorToken}` }, body);

/**
 * A manifest whose one tool (`payment:send`, a webhook connector to a closed local port) always needs a human: every
 * execute of it ESCALATEs, so a test gets pending approvals (and their webhook deliveries) without running anything.
 */
export function escalatingPaymentManifest(bot: string, name = bot) {
  return {
    uapk_id: bot,
    agent: { id: bot, name },
    capabilities: ["payment:send"],
    constraints: { max_actions_per_hour: 100, require_human_approval: ["payment:send"] },
    tools: {
      "payment:send": {
        connector: {
          type: "webhook",
          url: "http://127.0.0.1:9/pay",
          allowed_hosts: ["127.0.0.1"],
          allow_private: true,
        },
      },
    },
  };
}

export async function registerManifest(g: Caller, manifest: Record<string, unknown>): Promise<Reply> {
  const reply = await operator(g).post("/manifests", manifest);
  if (reply.status !== 201 && reply.status !== 200)
    throw new Error(`manifest not registered: ${reply.status} ${reply.text}`);
  return reply;
}

export function executeBody(uapkId: string, action: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return { uapk_id: uapkId, agent_id: uapkId, action: { params: {}, ...action }, ...extra };
}

/** The stored records of the org, as exported (JSONL → objects), in chain order (without the signed head line). */
export async function exportedRecords(g: Caller): Promise<{ text: string; records: Record<string, any>[] }> {
  const reply = await operator(g).get("/interactions/export");
  if (reply.status !== 200) throw new Error(`export failed: ${reply.status} ${reply.text}`);
  const records = reply.text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as Record<string, any>)
    .filter((line) => !("chain_head" in line));
  return { text: reply.text, records };
}

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface Receiver {
  url: string;
  received: Received[];
  /** Requests whose path is `path`. */
  count(path: string): number;
  close(): Promise<void>;
}

/**
 * A local HTTP endpoint for http/webhook tools (which must set `allow_private: true` to reach 127.0.0.1).
 * `/slow/...` answers after `delayMs`, `/fail/...` answers 500, anything else 200 with a small JSON body.
 */
export async function startReceiver(options: { delayMs?: number } = {}): Promise<Receiver> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const [path = ""] = (req.url ?? "").split("?");
      received.push({ method: req.method ?? "", path, headers: req.headers, body });
      const answer = () => {
        if (path.startsWith("/fail"))
          res.writeHead(500, { "content-type": "application/json" }).end('{"error":"boom"}');
        // JSON nested 5,000 deep: deeper than JSON.stringify's native stack holds.
        else if (path.startsWith("/deep"))
          res.writeHead(200, { "content-type": "application/json" }).end(`${"[".repeat(5000)}${"]".repeat(5000)}`);
        else
          res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ ok: true, n: received.length }));
      };
      if (path.startsWith("/slow")) setTimeout(answer, options.delayMs ?? 200);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    count: (path) => received.filter((r) => r.path === path).length,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
