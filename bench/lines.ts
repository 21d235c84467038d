// The Gatehouse lines of `make bench`. Each face adds its own.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type autocannon from "autocannon";
import { createTestPgDatabase, reachablePostgres, type TestPgDatabase } from "../src/core/store/test-support";
import { RACY_WINDOW_MS } from "../src/faces/purutos/read-cache";

export interface BenchLine {
  name: string;
  /** How the goals table (./report.ts) finds this line's numbers. */
  key?: string;
  path: string;
  /** Also load it with wrk (the key lines: fixed cost, decision, durable execute). */
  wrk?: boolean;
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
  /**
   * Also load a bare Koa app that reads this line's request body (JSON.parse) and answers the very bytes this line
   * answers: what Koa alone costs for the exchange, the floor under a ratio to Koa hello.
   */
  koaFloorReference?: boolean;
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

/** The ecosystems made in this run, by size: the lines that list one only read it, so they share it. */
const ecosystems = new Map<number, Promise<string>>();

/**
 * An ecosystem of `n` purutos with the minimum layout, as a real one would have, given once its files are older
 * than discovery's racy window (src/faces/purutos/read-cache.ts): a file younger than that is read again at each
 * rebuild, so with files written just before the target started, the first background rebuild (10 s after the
 * first request, inside the autocannon load) re-read and re-parsed every README and SKILL.md of the ecosystem,
 * ~250 ms of CPU that a gateway serving an ecosystem not written seconds ago never spends (readContained and the
 * YAML parser were 4 % of the line's profile). Later rebuilds only probe each file, as in production.
 */
function ecosystemOf(n: number): Promise<string> {
  let made = ecosystems.get(n);
  if (!made) {
    const root = writeEcosystem(n);
    made = new Promise((ok) => setTimeout(() => ok(root), RACY_WINDOW_MS + 500));
    ecosystems.set(n, made);
  }
  return made;
}

function writeEcosystem(n: number): string {
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

/**
 * A manifest whose budget never runs out and whose tool does nothing: measures the gateway, not a tool. With
 * `escalate`, the tool requires human approval (approval_check: `constraints.require_human_approval`), so every
 * execute is an ESCALATE that finds (or creates) the pending approval of its binding.
 */
function benchManifests(options: { escalate?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-manifests-"));
  const approval = options.escalate ? ", require_human_approval: [email:send]" : "";
  writeFileSync(
    join(dir, "bench-bot.yaml"),
    [
      "uapk_id: bench-bot",
      "agent: { id: bench-bot, name: Bench Bot, version: 1.0.0 }",
      "capabilities: [email:send]",
      `constraints: { max_actions_per_hour: 1000000000${approval} }`,
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
    prepare: async () => ({ GATEHOUSE_ECOSYSTEM_ROOT: await ecosystemOf(100), PURUTO_DATA_PATH: "" }),
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
const ESCALATE_EMPTY = "gatehouse execute that escalates, no other pending approval";

/** Fails the line when one request is not decided as `decision` (a manifest that does not escalate…). */
async function expectDecision(url: string, apiKey: string, decision: string): Promise<void> {
  const res = await fetch(url, { ...post(apiKey), method: "POST" } as RequestInit);
  const body = (await res.json()) as { decision?: string };
  if (body.decision !== decision) throw new Error(`expected ${decision}, got ${res.status} ${JSON.stringify(body)}`);
}

/**
 * REST execute with state grown in the store before the load (bench/seed.ts, through the store modules): the
 * decision and the audit append must cost what they cost on an empty store.
 */
function executeWith(
  name: string,
  key: string,
  seed: Record<string, string>,
  options: { escalate?: boolean; compareTo?: string } = {},
): BenchLine {
  const decision = options.escalate ? "ESCALATE" : "ALLOW";
  return {
    name,
    key,
    path: "/api/v1/gateway/execute",
    prepare: async () => ({ GATEHOUSE_MANIFEST_DIR: benchManifests(options), ...seed }),
    setup: (baseUrl, apiKey) => expectDecision(`${baseUrl}/api/v1/gateway/execute`, apiKey, decision),
    request: post,
    ...(options.compareTo ? { compareTo: options.compareTo } : {}),
  };
}

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
    key: "mcp",
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
              params: { name: "email_send", arguments: { params: { to: "customer@example.com", subject: "Hello" } } },
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
    ...(twoNodes ? {} : { key: "execute-pg" }),
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
  { name: "gatehouse GET /health", key: "health", path: "/health", wrk: true },
  {
    name: "gatehouse GET /purutos (100 purutos, key)",
    key: "purutos",
    path: "/purutos",
    prepare: async () => ({ GATEHOUSE_ECOSYSTEM_ROOT: await ecosystemOf(100), PURUTO_DATA_PATH: "" }),
    request: (apiKey) => ({ headers: { "x-api-key": apiKey } }),
    sameBytesReference: true,
    // And a bare Koa app sending them: the ceiling of the same-bytes goal for anything built on Koa.
    koaFloorReference: true,
    // autocannon parses each 59 KB answer in JavaScript on the same cores: alone, it measures itself.
    wrk: true,
  },
  conditionalPurutos(),
  {
    name: "gatehouse POST /api/v1/gateway/evaluate",
    key: "evaluate",
    path: "/api/v1/gateway/evaluate",
    prepare: async () => ({ GATEHOUSE_MANIFEST_DIR: benchManifests() }),
    request: post,
    wrk: true,
    koaFloorReference: true,
  },
  {
    // Production logs a line per request (LOG_LEVEL=info); the other lines run silent, as the baselines do.
    name: "gatehouse POST evaluate, request log on (LOG_LEVEL=info, JSON to a file)",
    path: "/api/v1/gateway/evaluate",
    prepare: async () => ({
      GATEHOUSE_MANIFEST_DIR: benchManifests(),
      BENCH_LOG_FILE: join(mkdtempSync(join(tmpdir(), "gatehouse-bench-log-")), "gatehouse.log"),
    }),
    request: post,
    compareTo: "gatehouse POST /api/v1/gateway/evaluate",
  },
  {
    name: REST_EXECUTE,
    key: "execute",
    path: "/api/v1/gateway/execute",
    prepare: async () => ({ GATEHOUSE_MANIFEST_DIR: benchManifests() }),
    request: post,
    wrk: true,
  },
  executeWith(
    "gatehouse execute, 100,000 audit records in the store",
    "execute-audit-100k",
    {
      BENCH_SEED_AUDIT: "100000",
    },
    { compareTo: REST_EXECUTE },
  ),
  executeWith(
    "gatehouse execute, 1,000 manifests in the org",
    "execute-manifests-1k",
    {
      BENCH_SEED_MANIFESTS: "999",
    },
    { compareTo: REST_EXECUTE },
  ),
  executeWith(ESCALATE_EMPTY, "escalate-0", {}, { escalate: true }),
  executeWith(
    "gatehouse execute that escalates, 10,000 pending approvals",
    "escalate-10k",
    {
      BENCH_SEED_APPROVALS: "10000",
    },
    { escalate: true, compareTo: ESCALATE_EMPTY },
  ),
  mcpToolsCall(),
  postgresExecute(false),
  postgresExecute(true),
];
