// The MCP face: Streamable HTTP endpoints of the official SDK mounted on Gatehouse's HTTP server.
//
//   /mcp/agents/{uapk_id}   that agent's manifest tools (`type.tool`), each call a governed action
//   /mcp/purutos            each allowed puruto command (`puruto.command`)
//
// Every HTTP request is authenticated by the HTTP boundary's authenticator (X-API-Key for agents, or an operator's
// bearer token on the agents endpoint; purutos take the API key only, as their REST operations do) before
// any JSON-RPC is read: a missing or bad credential is a 401 problem+json. Bodies are parsed with the REST
// limits (413 over GATEHOUSE_MAX_BODY_BYTES, 400 on invalid JSON or prototype keys, 415 if not JSON).
import { randomUUID } from "node:crypto";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  type CallToolRequest,
  CallToolRequestSchema,
  type InitializeRequest,
  isInitializeRequest,
  ListToolsRequestSchema,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import type { Redis } from "ioredis";
import type { Context } from "koa";
import type { EventBus } from "../../core/events/bus";
import type { Principal } from "../../core/identity/principal";
import type { Mount } from "../../http/app";
import type { Authenticator } from "../../http/auth";
import { hasJsonMediaType } from "../../http/body/json-body";
import type { RouteGuard } from "../../http/boundary/guard";
import { requireOperatorOf } from "../../http/boundary/org-scope";
import { HttpProblem } from "../../http/problem";
import type { SecurityScheme } from "../../http/spec";
import { assertAcceptedBySdk } from "./accept";
import { type AgentSession, type AgentToolsDeps, createAgentTools } from "./agent-tools";
import {
  emptyBatchAnswer,
  ID_IN_USE,
  notJsonRpcAnswer,
  oversizedBatchAnswer,
  repeatedIdAnswer,
} from "./invalid-request";
import { keyLimitAnswer } from "./key-limit";
import type { McpOptions } from "./options";
import type { BodyValidator, PurutoCommands } from "./ports";
import { assertSupportedProtocolVersion } from "./protocol-version";
import { createPurutoTools } from "./puruto-tools";
import { limitRefused } from "./results";
import { type BuildServer, createSessionRegistry, type McpSession, type SessionRegistry } from "./sessions";
import { createSharedSessions, isSessionId, sharedRecordOf } from "./shared-sessions";
import type { SessionTransport } from "./transport";
import { sendWebResponse, webRequestOf } from "./web-bridge";

export const MCP_PREFIX = "/mcp/";
const SAFE_SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const METHODS = ["GET", "POST", "DELETE"];
/** MCP's Streamable HTTP takes `application/json` bodies only (not REST's `application/*+json`). */
const MCP_BODY_TYPES = ["application/json"];

export interface McpFaceDeps extends Omit<AgentToolsDeps, "options"> {
  auth: Authenticator;
  options: McpOptions;
  version: string;
  /** Absent: /mcp/purutos answers 404. */
  purutos?: PurutoCommands;
  /**
   * Who may use the purutos: the purutos face's own rule (its org; the same guard as REST /purutos, given by the
   * composition root), checked before the body is read. Absent: any authenticated key.
   */
  purutosGuard?: Pick<RouteGuard, "check"> | undefined;
  validatePurutoPayload: BodyValidator;
  /**
   * Redis shared by the nodes (REDIS_URL) and the prefix of Gatehouse's keys (GATEHOUSE_REDIS_PREFIX): sessions are
   * usable from every node (./shared-sessions.ts). Absent: a session is served by the node that opened it only.
   */
  redis?: { client: Redis; prefix: string } | undefined;
  /** The nodes' event bus: with `redis`, a DELETE on one node closes the session's copies on the others at once. */
  events?: EventBus | undefined;
}

type Route = { kind: "agent"; uapkId: string; template: string } | { kind: "purutos"; template: string };

function routeOf(path: string): Route | undefined {
  if (path === "/mcp/purutos") return { kind: "purutos", template: "/mcp/purutos" };
  const match = /^\/mcp\/agents\/([^/]+)$/.exec(path);
  if (!match) return undefined;
  let uapkId: string;
  try {
    uapkId = decodeURIComponent(match[1] ?? "");
  } catch {
    return undefined;
  }
  return SAFE_SEGMENT.test(uapkId) ? { kind: "agent", uapkId, template: "/mcp/agents/{uapk_id}" } : undefined;
}

// A person is their org and sub (one issuer per deployment): the same `sub` in another org is someone else,
// and a session acts in the org of the token that opened it.
const ownerOf = (p: Principal): string =>
  p.kind === "api_key"
    ? `key:${p.keyId}`
    : p.kind === "user"
      ? `user:${JSON.stringify([p.orgId ?? "", p.sub])}`
      : "anonymous";

const endpointOf = (route: Route): string => (route.kind === "agent" ? `agents/${route.uapkId}` : "purutos");

function orgOf(principal: Principal): string {
  if (principal.kind === "api_key") return principal.orgId;
  if (principal.kind === "user" && principal.orgId) return principal.orgId;
  throw new HttpProblem(403, "The token names no organisation", { code: "FORBIDDEN" });
}

/**
 * A person on /mcp/agents runs the agent's governed tools as that agent (its budget, its approvals) and reads its
 * approvals: on REST only an operator may do that much (the agent itself uses its API key), so the operator API's
 * role rule applies here too — a developer (IDE) token must not act as every agent of its org. 403 otherwise.
 */
function assertMayActAsAgent(principal: Principal): void {
  if (principal.kind === "user") requireOperatorOf(principal, orgOf(principal));
}

/**
 * An agent session opens only on an active manifest of the caller's org (404 / 403 MANIFEST_INACTIVE), and with a
 * session token only one that verifies for that agent now (403 CAPABILITY_TOKEN_REFUSED naming REST's reason code):
 * a client learns at connect time, not from a list of tools every call of which would be denied. 403, not 401:
 * the caller's credential is good, and a 401 sends MCP clients into their OAuth flow.
 */
async function assertAgentSessionAllowed(
  engine: McpFaceDeps["engine"],
  orgId: string,
  uapkId: string,
  token: string | undefined,
): Promise<void> {
  const manifest = await engine.manifests.getByUapkId(orgId, uapkId);
  if (!manifest) throw new HttpProblem(404, `Manifest '${uapkId}' not found`, { code: "MANIFEST_NOT_FOUND" });
  if (manifest.status !== "active")
    throw new HttpProblem(403, `Manifest '${uapkId}' is ${manifest.status}: its tools cannot be used`, {
      code: "MANIFEST_INACTIVE",
    });
  if (token === undefined) return;
  const verified = await engine.tokens.verify(token, { orgId, agentId: manifest.agent.id, uapkId });
  if (!verified.ok)
    throw new HttpProblem(403, `X-Capability-Token refused: ${verified.message}`, {
      code: "CAPABILITY_TOKEN_REFUSED",
      errors: [{ pointer: "/headers/x-capability-token", message: `${verified.code}: ${verified.message}` }],
    });
}

/** What each endpoint tells the agent at initialize: its own tools' rules, nothing the other endpoint does. */
const AGENT_INSTRUCTIONS =
  "Tools of this server are governed by Gatehouse: each call is decided by policy (ALLOW, DENY, ESCALATE) and audited. " +
  "A call that needs a human approval waits for it, then answers with status 'pending' and an approval_id: call " +
  "the same tool again with the same arguments and _meta.approval_id once gatehouse_approval_status says 'approved'.";
const PURUTO_INSTRUCTIONS =
  "Tools of this server are the allow-listed commands of the local purutos (agent repositories) Gatehouse found, " +
  "named <puruto>_<command>: a call runs that command in its puruto's folder with the arguments as its JSON payload, " +
  "under a timeout and an output limit, and answers with its result. When too many commands run at once, a call is " +
  "refused with COMMANDS_BUSY: try it again a little later.";

/**
 * The SDK's isInitializeRequest, asked only of a message whose method is `initialize`: on every other message
 * (each tools/call) its schema check fails, and a failed zod parse builds an error with its issues — 1.2% of the
 * MCP line's CPU in bench/profile.ts for a "no".
 */
function isInitialize(body: unknown): boolean {
  const method = typeof body === "object" && body !== null ? (body as { method?: unknown }).method : undefined;
  return method === "initialize" && isInitializeRequest(body);
}

/**
 * tools/call as the SDK's Protocol parses it before the handler runs: its method only. The whole request is still
 * parsed with CallToolRequestSchema twice before a handler sees it — by the transport (./invalid-params.ts, which
 * answers Invalid params) and by the SDK Server's own tools/call wrapper — so a third full parse per call (its
 * zod parses were a quarter of the MCP face's own CPU in bench/profile.ts) checked nothing new.
 */
const TOOLS_CALL_METHOD = CallToolRequestSchema.pick({ method: true }).passthrough();

/** The params of a tools/call the SDK Server's wrapper has validated with CallToolRequestSchema before the handler. */
function paramsOf(request: object): CallToolRequest["params"] {
  return (request as CallToolRequest).params;
}

const SESSION_NOT_FOUND = () =>
  new HttpProblem(404, "MCP session not found: initialize a new one", { code: "MCP_SESSION_NOT_FOUND" });
const SESSIONS_FULL = () =>
  new HttpProblem(503, "Too many open MCP sessions; try again later", {
    code: "MCP_SESSIONS_FULL",
    headers: { "Retry-After": "30" },
  });

/** The servers of the endpoints' sessions: `serverOf(...)` builds one for a session of that caller. */
function sessionServers(deps: McpFaceDeps, purutoTools: ReturnType<typeof createPurutoTools> | undefined) {
  const agentTools = createAgentTools({ ...deps, options: deps.options });
  function newServer(instructions: string): Server {
    return new Server({ name: "gatehouse", version: deps.version }, { capabilities: { tools: {} }, instructions });
  }

  function agentServer(base: Omit<AgentSession, "sessionId">, sessionId: () => string): Server {
    const server = newServer(AGENT_INSTRUCTIONS);
    // Object.assign, not `{ ...base, sessionId }` (a property added after a spread is V8's slow path on Node 20).
    const session = (): AgentSession => Object.assign({}, base, { sessionId: sessionId() });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await agentTools.listTools(session()) }));
    server.setRequestHandler(TOOLS_CALL_METHOD, async (request, extra) =>
      agentTools.callTool(session(), paramsOf(request), extra),
    );
    return server;
  }

  function purutosServer(principal: Principal): Server {
    const server = newServer(PURUTO_INSTRUCTIONS);
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: await purutoTools!.listTools() }));
    // As REST's POST /purutos/{name}/{command}: one request of the API key.
    server.setRequestHandler(TOOLS_CALL_METHOD, async (request, extra) => {
      const limited = await deps.limits.consume(principal);
      return limited ? limitRefused(limited) : purutoTools!.callTool(paramsOf(request), extra);
    });
    return server;
  }

  /** How a session's server is built: the endpoint's tools, as the caller (and with the session's token). */
  function serverOf(route: Route, principal: Principal, orgId: string, token: string | undefined): BuildServer {
    if (route.kind === "purutos") return () => purutosServer(principal);
    const base = {
      orgId,
      principal,
      uapkId: route.uapkId,
      ...(principal.kind === "user" ? { user: principal.sub } : {}),
      ...(token ? { capabilityToken: token } : {}),
    };
    return (sessionId) => agentServer(base, sessionId);
  }
  return serverOf;
}

/** How a request gets its session: a new one for an initialize, or (with Redis) one rebuilt from its record. */
function sessionOpeners(deps: McpFaceDeps, sessions: SessionRegistry, serverOf: ReturnType<typeof sessionServers>) {
  const { shared } = sessions;
  /** A new session for an initialize request; with Redis its record is shared before the client learns its id. */
  async function openSession(
    ctx: Context,
    route: Route,
    principal: Principal,
    orgId: string,
    body: unknown,
  ): Promise<SessionTransport> {
    const owner = ownerOf(principal);
    const endpoint = endpointOf(route);
    const token = route.kind === "agent" ? ctx.get("X-Capability-Token") || undefined : undefined;
    // Bounded on every node, Redis or not: the SDK Server keeps the client's capabilities for the session's life
    // (200 sessions of ~930 KB capabilities held 260 MB). Refused before the pool makes room for it (which may
    // close another caller's session).
    const record = sharedRecordOf(
      { owner, endpoint, ...(token ? { capabilityToken: token } : {}) },
      body as InitializeRequest,
    );
    if (record === undefined)
      throw new HttpProblem(400, "The initialize params are too large (at most 64 KiB)", {
        code: "VALIDATION_FAILED",
      });
    // Before the pool makes room too: a refused initialize never closes another caller's idle session.
    if (route.kind === "agent") await assertAgentSessionAllowed(deps.engine, orgId, route.uapkId, token);
    const slot = sessions.reserve(owner);
    if (!slot) throw SESSIONS_FULL();
    // Held until the initialize is answered, refused or its caller left: registered by then, or never to be.
    ctx.res.once("close", slot.release);
    const id = randomUUID();
    if (shared) await shared.create(id, record);
    return sessions.open(slot, owner, endpoint, serverOf(route, principal, orgId, token), id);
  }

  /**
   * With Redis: the caller's session held here (while its record exists), else rebuilt here from its shared record
   * when that is the caller's, on this endpoint. A DELETE of a session held here by no one deletes its record.
   */
  async function sharedSession(
    ctx: Context,
    route: Route,
    principal: Principal,
    orgId: string,
    id: string,
  ): Promise<McpSession | Response | undefined> {
    const owner = ownerOf(principal);
    const endpoint = endpointOf(route);
    if (sessions.holds(id)) return sessions.findShared(id, owner, endpoint);
    if (!shared || !isSessionId(id)) return undefined;
    const record = await shared.load(id);
    if (!record || record.owner !== owner || record.endpoint !== endpoint) return undefined;
    // A DELETE of a session held by no node here: its record is deleted (nothing is rebuilt to be closed), answered as
    // the SDK transport answers a DELETE of its session (its protocol version header was checked before, as on a
    // node that holds a copy).
    if (ctx.method === "DELETE") {
      await shared.delete(id);
      return new Response(null, { status: 200 });
    }
    const slot = sessions.reserve(owner);
    if (!slot) throw SESSIONS_FULL();
    // Released once the copy is registered (the slot became it) or could not be.
    try {
      if (!(await shared.touch(id))) return undefined; // deleted meanwhile
      const build = serverOf(route, principal, orgId, record.capabilityToken);
      return await sessions.restore(slot, id, owner, endpoint, record.initialize as InitializeRequest["params"], build);
    } finally {
      slot.release();
    }
  }

  return { openSession, sharedSession };
}

export function createMcpFace(deps: McpFaceDeps) {
  const shared = deps.redis
    ? createSharedSessions({
        redis: deps.redis.client,
        prefix: deps.redis.prefix,
        ttlMs: deps.options.sessionIdleMs,
        ...(deps.events ? { events: deps.events } : {}),
      })
    : undefined;
  const sessions = createSessionRegistry({ ...deps.options, shared, events: shared ? deps.events : undefined });
  const purutoTools = deps.purutos
    ? createPurutoTools({ purutos: deps.purutos, validatePayload: deps.validatePurutoPayload })
    : undefined;
  const serverOf = sessionServers(deps, purutoTools);

  const { openSession, sharedSession } = sessionOpeners(deps, sessions, serverOf);

  /** The transport of the caller's session, or of a new one for an initialize request. */
  async function transportFor(
    ctx: Context,
    route: Route,
    principal: Principal,
    body: unknown,
  ): Promise<SessionTransport | Response> {
    const orgId = orgOf(principal);
    const id = ctx.get("Mcp-Session-Id");
    if (id) {
      const session = sessions.shared
        ? await sharedSession(ctx, route, principal, orgId, id)
        : sessions.find(id, ownerOf(principal), endpointOf(route));
      if (!session) throw SESSION_NOT_FOUND();
      return session instanceof Response ? session : session.transport;
    }
    if (ctx.method === "POST" && isInitialize(body)) return openSession(ctx, route, principal, orgId, body);
    throw new HttpProblem(400, "Mcp-Session-Id header is required (send an initialize request first)", {
      code: "MCP_SESSION_REQUIRED",
    });
  }

  const mount: Mount = {
    prefix: MCP_PREFIX,
    async handle(ctx, tools) {
      const route = routeOf(ctx.path);
      if (!route || (route.kind === "purutos" && !purutoTools))
        throw new HttpProblem(404, "No such route", { code: "ROUTE_NOT_FOUND" });
      ctx.state.route = route.template;
      // The SDK hands a tool's handler the request's headers: its X-Request-Id is the boundary's id (the caller's
      // when safe, else the one generated), which the audit record and a puruto's invocation carry, as on REST.
      ctx.req.headers["x-request-id"] = ctx.state.requestId as string;
      if (!METHODS.includes(ctx.method))
        throw new HttpProblem(405, `Method ${ctx.method} is not allowed here`, {
          code: "METHOD_NOT_ALLOWED",
          headers: { Allow: METHODS.join(", ") },
        });
      const schemes: SecurityScheme[] = route.kind === "purutos" ? ["ApiKeyAuth"] : ["ApiKeyAuth", "BearerAuth"];
      const principal = await deps.auth.authenticate(ctx, schemes);
      // The same rule as REST /purutos, before the body is read: another org gets 403, never a JSON-RPC error.
      if (route.kind === "purutos") deps.purutosGuard?.check(principal, {});
      else assertMayActAsAgent(principal);
      let body: unknown;
      if (ctx.method === "POST") {
        if (!hasJsonMediaType(ctx, MCP_BODY_TYPES))
          throw new HttpProblem(415, "MCP requests must be application/json", { code: "UNSUPPORTED_MEDIA_TYPE" });
        body = await tools.parseJsonBody(ctx);
        if (body === undefined)
          throw new HttpProblem(400, "A JSON-RPC request body is required", { code: "VALIDATION_FAILED" });
        // JSON-RPC 2.0: an empty batch is one Invalid Request error (./invalid-request.ts; the SDK said 202).
        // And one over the SDK's batch limit gets the SDK's answer before any check reads each of its messages.
        const refusedBatch = emptyBatchAnswer(body) ?? oversizedBatchAnswer(body);
        if (refusedBatch) return answerInvalidRequest(ctx, refusedBatch);
      }
      const initialize = ctx.method === "POST" && isInitialize(body);
      // What opens a session or a stream is always answered by the SDK: refused before a session is opened for it.
      if (ctx.method === "GET" || initialize) assertAcceptedBySdk(ctx);
      // Checked here rather than by the SDK, so that the refusal is problem+json (./protocol-version.ts).
      if (!initialize) assertSupportedProtocolVersion(ctx.req.headers["mcp-protocol-version"]);
      // Before a session is looked up or opened: over the key's limit, an initialize never takes room in the pool.
      const limited = await keyLimitAnswer(deps.limits, principal, ctx.method, body);
      if (limited) return answerJson(ctx, limited);
      const transport = await transportFor(ctx, route, principal, body);
      // The answer to a DELETE of a session held by no node here (sharedSession).
      if (transport instanceof Response) return sendWebResponse(ctx, transport, false);
      // A request id stays this POST's until its answer is written or its caller left (the POST ends either way).
      const ids = requestIds(body);
      if (!transport.claimIds(ids)) return answerInvalidRequest(ctx, ID_IN_USE);
      try {
        await answer(ctx, transport, body, ids);
      } finally {
        transport.releaseIds(ids);
      }
    },
  };

  return {
    mount,
    /** Open sessions on this node. */
    get sessionCount() {
      return sessions.size;
    },
    close: () => sessions.close(),
  };
}

export type McpFace = ReturnType<typeof createMcpFace>;

/** Answers a request of an open session: a plain request (no progress wanted) as JSON, anything else by the SDK. */
async function answer(
  ctx: Context,
  transport: SessionTransport,
  body: unknown,
  ids: readonly RequestId[],
): Promise<void> {
  const answered = transport.answerAsJson(ctx, body);
  if (answered) return answered;
  // Not checked before the fast path above: it parses a plain request itself, and refuses what fails.
  const notJsonRpc = ctx.method === "POST" ? (notJsonRpcAnswer(body) ?? repeatedIdAnswer(body)) : undefined;
  if (notJsonRpc) return answerInvalidRequest(ctx, notJsonRpc);
  assertAcceptedBySdk(ctx);
  cancelWhenCallerLeaves(ctx, transport, ids);
  const response = await transport.sdk.handleRequest(
    webRequestOf(ctx),
    body === undefined ? undefined : { parsedBody: body },
  );
  // The SDK refuses a second GET stream of a session with its own JSON-RPC error body (409, -32000): every HTTP
  // error of Gatehouse is problem+json. Its state (which streams are open) is the SDK transport's private one, so
  // the refusal is rewritten rather than foreseen; a GET has no other 409 here (no event store, no resumption).
  if (ctx.method === "GET" && response.status === 409) {
    await response.body?.cancel();
    throw new HttpProblem(409, "This MCP session already has its GET event stream open (one per session)", {
      code: "MCP_STREAM_OPEN",
    });
  }
  await sendWebResponse(ctx, response, ctx.method === "POST");
}

/** A JSON-RPC Invalid Request answer, as the SDK sends its own (HTTP 400, application/json). */
function answerInvalidRequest(ctx: Context, answer: object): void {
  ctx.status = 400;
  ctx.body = answer;
}

/** JSON-RPC answers refused before the session is reached (HTTP 200: the SDK clients read them as errors). */
function answerJson(ctx: Context, answer: object): void {
  ctx.status = 200;
  ctx.body = answer;
}

/** The ids of the JSON-RPC requests in a POST body (one message or a batch). */
function requestIds(body: unknown): RequestId[] {
  // A loop, not flatMap with an array per message: flatMap was 0.7% of the MCP line's CPU in
  // bench/profile.ts (~180 ns a call more than this loop in a Node 20 micro-benchmark).
  const ids: RequestId[] = [];
  for (const m of Array.isArray(body) ? body : [body]) {
    const { id, method } = (m ?? {}) as { id?: unknown; method?: unknown };
    if (typeof method === "string" && (typeof id === "string" || typeof id === "number")) ids.push(id);
  }
  return ids;
}

/** A stream the caller closes before every answer was written: its requests are cancelled (./transport.ts). */
function cancelWhenCallerLeaves(ctx: Context, transport: SessionTransport, ids: readonly RequestId[]): void {
  if (ids.length === 0) return;
  ctx.res.once("close", () => {
    if (!ctx.res.writableFinished) for (const id of ids) transport.callerLeft(id);
  });
}
