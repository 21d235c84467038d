// The Gatehouse lines of `make bench`. Each face adds its own.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type autocannon from "autocannon";
import { createTestPgDatabase, reachablePostgres, type TestPgDatabase } from "../src/core/store/test-support";

export interface BenchLine {
  name: string;
  path: string;
  /** Environment for the Gatehouse process of this line (e.g. a generated ecosystem). */
  prepare?: () => Promise<Record<string, string>>;
  /** State to create through the API before the load. */
  setup?: (baseUrl: string, apiKey: string) => Promise<void>;
  request?: (apiKey: string) => Partial<autocannon.Options>;
  /**
   * Also load a bare node:http server answering the very bytes this line's response carries, and print the
   * ratio to it: for a large payload, how much of the gap to the hello baselines is the payload itself.
   */
  sameBytesReference?: boolean;
  /** Print this line's ratio to the earlier line of that name too (e.g. MCP tools/call vs REST execute). */
  compareTo?: string;
  /** The status every response must have (default: any 2xx). */
  expectStatus?: number;
  /** After the load (e.g. drop the line's database). */
  cleanup?: () => Promise<void>;
  /** Two Gatehouse nodes with the line's environment behind HAProxy (deploy/cluster/haproxy.cfg), loaded through it. */
  twoNodesViaHaproxy?: boolean;
  /** Why the line cannot run here (a service it needs is missing): printed instead of a result. */
  unavailable?: () => Promise<string | undefined>;
}

/** An ecosystem of `n` purutos with the minimum layout, as a real one would have. */
function ecosystemOf(n: number): string {
  const root = mkdtempSync(join(tmpdir(), "gatehouse-bench-eco-"));
  for (let i = 0; i < n; i++) {
    const dir = join(root, `puruto-bench-${String(i).padStart(3, "0")}`);
    for (const skill of ["init", "help", "list", "status"]) {
      mkdirSync(join(dir, ".claude/skills", skill), { recursive: true });
      writeFileSync(
        join(dir, ".claude/skills", skill, "SKILL.md"),
        `---\nname: ${skill}\ndescription: The ${skill} command\nuser-invocable: true\n---\n\nDo ${skill}.\n`,
      );
    }
    writeFileSync(join(dir, "README.md"), `# puruto-bench-${i}\n\nA benchmark puruto.\n`);
    writeFileSync(join(dir, ".puruto-standard-version"), "0.2.0\n");
  }
  return root;
}

/** A manifest whose budget never runs out and whose tool does nothing: measures the gateway, not a tool. */
function benchManifests(): string {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-manifests-"));
  writeFileSync(
    join(dir, "bench-bot.yaml"),
    [
      "uapk_id: bench-bot",
      "agent: { id: bench-bot, name: Bench Bot, version: 1.0.0 }",
      "capabilities: [email:send]",
      "constraints: { max_actions_per_hour: 1000000000 }",
      "tools:",
      "  email:send: { connector: { type: noop } }",
      "",
    ].join("\n"),
  );
  return dir;
}

const action = JSON.stringify({
  uapk_id: "bench-bot",
  agent_id: "bench-bot",
  action: { type: "email", tool: "send", params: { to: "customer@example.com", subject: "Hello" } },
});

const post = (apiKey: string): Partial<autocannon.Options> => ({
  method: "POST",
  headers: { "x-api-key": apiKey, "content-type": "application/json" },
  body: action,
});

/** A poller that already has the list: If-None-Match with the ETag of its last answer → 304, no body. */
function conditionalPurutos(): BenchLine {
  let etag = "";
  return {
    name: "gatehouse GET /purutos (100, If-None-Match → 304)",
    path: "/purutos",
    prepare: async () => ({ GATEHOUSE_ECOSYSTEM_ROOT: ecosystemOf(100), PURUTO_DATA_PATH: "" }),
    setup: async (baseUrl, apiKey) => {
      const res = await fetch(`${baseUrl}/purutos`, { headers: { "x-api-key": apiKey } });
      etag = res.headers.get("etag") ?? "";
      if (!etag) throw new Error("GET /purutos answered without an ETag");
    },
    request: (apiKey) => ({ headers: { "x-api-key": apiKey, "if-none-match": etag } }),
    expectStatus: 304,
  };
}

const REST_EXECUTE = "gatehouse POST /api/v1/gateway/execute (noop, audit)";

/**
 * The same governed call as the REST execute line, as an MCP tools/call in one Streamable HTTP session (opened in
 * setup): each request gets its own JSON-RPC id (ids must be unique among a session's requests in flight).
 */
function mcpToolsCall(): BenchLine {
  let sessionId = "";
  let nextId = 1;
  const headers = (apiKey: string) => ({
    "x-api-key": apiKey,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  });
  return {
    name: "gatehouse MCP tools/call (noop, audit)",
    path: "/mcp/agents/bench-bot",
    prepare: async () => ({ GATEHOUSE_MANIFEST_DIR: benchManifests() }),
    setup: async (baseUrl, apiKey) => {
      const url = `${baseUrl}/mcp/agents/bench-bot`;
      const init = await fetch(url, {
        method: "POST",
        headers: headers(apiKey),
        body: JSON.stringify({
          jsonrpc: "2.0",
          id: 0,
          method: "initialize",
          params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "bench", version: "1" } },
        }),
      });
      sessionId = init.headers.get("mcp-session-id") ?? "";
      await init.text();
      if (!sessionId) throw new Error(`MCP initialize answered ${init.status} without a session id`);
      const body = JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" });
      await fetch(url, { method: "POST", headers: { ...headers(apiKey), "mcp-session-id": sessionId }, body });
    },
    request: (apiKey) => ({
      method: "POST",
      headers: { ...headers(apiKey), "mcp-session-id": sessionId },
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({
              jsonrpc: "2.0",
              id: nextId++,
              method: "tools/call",
              params: { name: "email.send", arguments: { params: { to: "customer@example.com", subject: "Hello" } } },
            }),
          }),
        },
      ],
    }),
    compareTo: REST_EXECUTE,
  };
}

/**
 * REST execute on PostgreSQL (DATABASE_URL, a database of the run's own, dropped afterwards): one node, or two
 * nodes behind HAProxy sharing it and Redis. On a 2-core machine the two-node line measures contention, not
 * scale-out (both nodes, PostgreSQL, HAProxy and the load generator share the cores): informational.
 */
function postgresExecute(twoNodes: boolean): BenchLine {
  let database: TestPgDatabase | undefined;
  return {
    name: twoNodes
      ? "gatehouse execute, PostgreSQL, 2 nodes via HAProxy (informational)"
      : "gatehouse POST /api/v1/gateway/execute on PostgreSQL (noop, audit)",
    path: "/api/v1/gateway/execute",
    unavailable: async () => ((await reachablePostgres()) ? undefined : "PostgreSQL is not reachable"),
    prepare: async () => {
      database = await createTestPgDatabase((await reachablePostgres())!);
      return {
        DATABASE_URL: database.url,
        GATEHOUSE_SECRET: "bench-secret-0123456789abcdef",
        GATEHOUSE_MANIFEST_DIR: benchManifests(),
        ...(twoNodes
          ? {
              REDIS_URL: process.env.REDIS_URL || "redis://127.0.0.1:6379",
              GATEHOUSE_REDIS_PREFIX: `gatehouse-bench-${database.url.split("/").pop()}`,
            }
          : {}),
      };
    },
    request: post,
    compareTo: REST_EXECUTE,
    twoNodesViaHaproxy: twoNodes,
    cleanup: async () => database?.drop(),
  };
}

export const benchLines: BenchLine[] = [
  { name: "gatehouse GET /health", path: "/health" },
  {
    name: "gatehouse GET /purutos (100 purutos, key)",
    path: "/purutos",
    prepare: async () => ({ GATEHOUSE_ECOSYSTEM_ROOT: ecosystemOf(100), PURUTO_DATA_PATH: "" }),
    request: (apiKey) => ({ headers: { "x-api-key": apiKey } }),
    sameBytesReference: true,
  },
  conditionalPurutos(),
  {
    name: "gatehouse POST /api/v1/gateway/evaluate",
    path: "/api/v1/gateway/evaluate",
    prepare: async () => ({ GATEHOUSE_MANIFEST_DIR: benchManifests() }),
    request: post,
  },
  {
    name: REST_EXECUTE,
    path: "/api/v1/gateway/execute",
    prepare: async () => ({ GATEHOUSE_MANIFEST_DIR: benchManifests() }),
    request: post,
  },
  mcpToolsCall(),
  postgresExecute(false),
  postgresExecute(true),
];
