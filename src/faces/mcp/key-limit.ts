// The per-API-key rate limit over every MCP request, as REST counts every API-key operation: a key could send
// `initialize`, `tools/list` and `ping` without end (each opened a session, read the manifest or answered) while its
// REST GETs were counted. Each JSON-RPC request of a POST is one request of the key, but `tools/call`, which its
// handler counts (with its agent, after its arguments are validated: ./agent-tools.ts); a POST carrying only
// notifications or answers is one, and so is a GET (the event stream). A DELETE is never counted nor refused: it
// ends a session. Over the limit nothing of the POST runs (no session is opened): each of its requests is answered
// a JSON-RPC error (HTTP 200, as the SDK clients read one: McpError with its code and data), `data.code`
// RATE_LIMIT_EXCEEDED and `data.retry_after_seconds`; what carries no request (notifications, the GET stream) has no
// JSON-RPC answer and gets REST's problem+json, 429 with Retry-After. When the counters cannot be read (Redis
// unreachable) every request gets REST's 503 REDIS_UNAVAILABLE problem, as a shared session's requests do then.
import type { RequestId } from "@modelcontextprotocol/sdk/types.js";
import type { Principal } from "../../core/identity/principal";
import { HttpProblem } from "../../http/problem";
import type { McpRequestLimits } from "./ports";

/** JSON-RPC's implementation-defined server error: the request was refused, nothing ran. */
export const LIMIT_ERROR_CODE = -32000;

type Refusal = NonNullable<Awaited<ReturnType<McpRequestLimits["consume"]>>>;

/** The ids of the requests of a POST body, and how many of them the key's limit counts here. */
function requestsOf(body: unknown): { ids: RequestId[]; counted: number } {
  const ids: RequestId[] = [];
  let counted = 0;
  for (const m of Array.isArray(body) ? body : [body]) {
    const { id, method } = (m ?? {}) as { id?: unknown; method?: unknown };
    if (typeof method !== "string" || (typeof id !== "string" && typeof id !== "number")) continue;
    ids.push(id);
    if (method !== "tools/call") counted++;
  }
  return { ids, counted };
}

function errorOf(id: RequestId, refusal: Refusal) {
  const message = `${refusal.code}: ${refusal.message}; retry after ${refusal.retryAfterSeconds} s`;
  const data = { code: refusal.code, retry_after_seconds: refusal.retryAfterSeconds };
  return { jsonrpc: "2.0", id, error: { code: LIMIT_ERROR_CODE, message, data } };
}

function problemOf(refusal: Refusal): HttpProblem {
  const limited = refusal.code === "RATE_LIMIT_EXCEEDED";
  return new HttpProblem(limited ? 429 : 503, refusal.message, {
    code: limited ? "RATE_LIMIT_EXCEEDED" : "REDIS_UNAVAILABLE",
    headers: { "Retry-After": String(refusal.retryAfterSeconds) },
  });
}

/**
 * Counts an MCP HTTP request against its caller's API key (a person's token has no such limit). Undefined when it
 * may go on; over the limit, the JSON-RPC answer to send (one error per request, an array for a batch); throws a
 * problem when the request carries no JSON-RPC request to answer.
 */
export async function keyLimitAnswer(
  limits: McpRequestLimits,
  principal: Principal,
  method: string,
  body: unknown,
): Promise<object | undefined> {
  if (principal.kind !== "api_key" || method === "DELETE") return undefined;
  const { ids, counted } = method === "POST" ? requestsOf(body) : { ids: [], counted: 1 };
  const requests = ids.length === 0 ? 1 : counted;
  // One consume of all the POST's requests (a batch of 1,000 pings was 1,000 round trips to the counters).
  const refusal = requests === 0 ? undefined : await limits.consume(principal, undefined, requests);
  if (!refusal) return undefined;
  // Redis unreachable: REST's 503, as every request of a shared session gets then (it cannot be checked either).
  if (ids.length === 0 || refusal.code !== "RATE_LIMIT_EXCEEDED") throw problemOf(refusal);
  const errors = ids.map((id) => errorOf(id, refusal));
  return Array.isArray(body) ? errors : errors[0];
}
