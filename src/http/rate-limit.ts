// REST rate limits: per API key and per agent, with rate-limiter-flexible. In memory on one node (the embedded
// default); in Redis with REDIS_URL, so N nodes share one budget per key and per agent.
//
//   GATEHOUSE_RATE_LIMIT_PER_API_KEY   requests per window per API key, every API-key operation (default 6000; 0 = off)
//   GATEHOUSE_RATE_LIMIT_PER_AGENT     actions per window per agent_id of execute/evaluate/batch, a batch counting
//                                      each of its actions (default 1200; 0 = off)
//   GATEHOUSE_RATE_LIMIT_WINDOW_SECONDS the window (default 60)
//
// MCP's tool calls count against the same limits (`consume`): one request of the caller's API key each, and a
// governed call one action of its agent, so REST and MCP together share one budget.
//
// Over the limit: 429 problem+json (RATE_LIMIT_EXCEEDED) with Retry-After and the IETF `RateLimit-Policy` /
// `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers). Redis unreachable: 503 REDIS_UNAVAILABLE — a
// limit that cannot be counted is not enforced by letting everything through (fail closed).
import type { Redis } from "ioredis";
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { Principal } from "../core/identity/principal";
import { HttpProblem, problem } from "./boundary";
import type { Handler, HandlerGroup, OperationId, OperationRequest } from "./handlers";

export interface RestRateLimitConfig {
  perApiKey: number;
  perAgent: number;
  windowSeconds: number;
}

export const DEFAULT_REST_RATE_LIMITS: RestRateLimitConfig = { perApiKey: 6000, perAgent: 1200, windowSeconds: 60 };

const LIMIT_VARIABLES: [string, keyof RestRateLimitConfig, number][] = [
  ["GATEHOUSE_RATE_LIMIT_PER_API_KEY", "perApiKey", 0],
  ["GATEHOUSE_RATE_LIMIT_PER_AGENT", "perAgent", 0],
  ["GATEHOUSE_RATE_LIMIT_WINDOW_SECONDS", "windowSeconds", 1],
];

export function restRateLimitConfigFromEnv(env: Record<string, string | undefined>): RestRateLimitConfig {
  const config = { ...DEFAULT_REST_RATE_LIMITS };
  for (const [name, field, min] of LIMIT_VARIABLES) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    if (!/^\d{1,10}$/.test(raw) || Number(raw) < min)
      throw new Error(`${name} must be an integer ≥ ${min}, got '${raw}'`);
    config[field] = Number(raw);
  }
  return config;
}

/** One named limit: its policy name in the RateLimit headers, and its counter. */
interface NamedLimiter {
  policy: "api-key" | "agent";
  quota: number;
  limiter: RateLimiterAbstract;
}

export interface RestRateLimiter {
  /** Every handler of the group, wrapped: the limits are consumed before the handler runs. */
  wrap<G extends HandlerGroup>(handlers: G): G;
  /** Counts one request of this caller; throws the 429 or 503 problem. */
  check(principal: Principal, body: unknown): Promise<void>;
  /**
   * Counts one request of another door (an MCP tool call): one of the caller's API key (as every REST API-key
   * operation), and with `agent` one action of that agent, whoever acts for it (its API key or an operator's MCP
   * session: the agent's budget is one). The refusal, or undefined when the request is within the limits.
   */
  consume(principal: Principal, agent?: LimitedAgent, requests?: number): Promise<LimitRefusal | undefined>;
}

/** The agent a governed call acts for, in its org. */
export interface LimitedAgent {
  orgId: string;
  agentId: string;
}

/** Why a request was refused by the limits: the problem's code and detail, and when to try again. */
export interface LimitRefusal {
  code: "RATE_LIMIT_EXCEEDED" | "REDIS_UNAVAILABLE";
  message: string;
  retryAfterSeconds: number;
}

export interface RestRateLimiterDeps {
  config: RestRateLimitConfig;
  /** REDIS_URL client: shared counters. Without it, this node's memory. */
  redis?: Redis | undefined;
  /** Redis key prefix (GATEHOUSE_REDIS_PREFIX). */
  prefix: string;
}

export function createRestRateLimiter(deps: RestRateLimiterDeps): RestRateLimiter {
  const { config } = deps;
  const make = (policy: NamedLimiter["policy"], quota: number): NamedLimiter | undefined => {
    if (quota <= 0) return undefined;
    const options = { keyPrefix: `${deps.prefix}:rest:limit:${policy}`, points: quota, duration: config.windowSeconds };
    const limiter = deps.redis
      ? new RateLimiterRedis({ ...options, storeClient: deps.redis, rejectIfRedisNotReady: true })
      : new RateLimiterMemory(options);
    return { policy, quota, limiter };
  };
  const perKey = make("api-key", config.perApiKey);
  const perAgent = make("agent", config.perAgent);

  /**
   * The limits this caller's request counts against, and how many points: none for a user token or an open
   * operation. The per-agent limit counts actions: a batch of 100 is 100, else it would carry 100 times the limit.
   */
  const countsOf = (principal: Principal, body: unknown): Count[] => {
    if (principal.kind !== "api_key") return [];
    const agentId = agentIdOf(body);
    return agentCounts(principal, agentId === undefined ? undefined : { orgId: principal.orgId, agentId }, body);
  };
  const agentCounts = (principal: Principal, agent: LimitedAgent | undefined, body: unknown, requests = 1): Count[] => {
    const counts: Count[] = [];
    if (perKey && principal.kind === "api_key") counts.push([perKey, principal.keyId, requests]);
    // A JSON pair, not `org:agent`: org and agent ids may hold ':' (org `a` agent `b:c` is not org `a:b` agent `c`).
    if (perAgent && agent) counts.push([perAgent, JSON.stringify([agent.orgId, agent.agentId]), actionsOf(body)]);
    return counts;
  };
  const consumeAll = async (counts: Count[]) => {
    for (let i = 0; i < counts.length; i++) {
      const [named, key, points] = counts[i]!;
      const refusal = await refusalOf(named, key, points, config.windowSeconds);
      if (refusal) {
        await giveBack(counts.slice(0, refusal.counted ? i + 1 : i));
        throw refusal.problem;
      }
    }
  };

  return {
    check: (principal, body) => consumeAll(countsOf(principal, body)),
    async consume(principal, agent, requests = 1) {
      const counts = agentCounts(principal, agent, {}, requests);
      if (counts.length === 0) return undefined;
      return consumeAll(counts).then(() => undefined, limitRefusalOf);
    },
    wrap<G extends HandlerGroup>(handlers: G): G {
      if (!perKey && !perAgent) return handlers;
      const wrapped: Record<string, Handler<OperationId>> = {};
      for (const [operationId, handler] of Object.entries(handlers) as [OperationId, Handler<OperationId>][]) {
        // A request that counts against no limit (an open operation such as /health) goes straight through,
        // without a promise to wait for.
        wrapped[operationId] = (req: OperationRequest<OperationId>) => {
          const counts = countsOf(req.principal, req.body);
          return counts.length ? consumeAll(counts).then(() => handler(req)) : handler(req);
        };
      }
      return wrapped as G;
    },
  };
}

/**
 * A refused request takes nothing: the points the limits before the refusing one took are given back, and so are
 * the refusing limit's own (rate-limiter-flexible counts a refused consume too). Else one agent hammering its own
 * limit drained its API key's, and a batch refused at 4 of 5 left no room for one more action. Best effort: a
 * store that fails now only leaves the points spent, as before.
 */
async function giveBack(spent: Count[]): Promise<void> {
  await Promise.allSettled(spent.map(([named, key, points]) => named.limiter.reward(key, points)));
}

/** The problem `consumeAll` threw, as a refusal a face other than REST reports in its own way. */
function limitRefusalOf(err: unknown): LimitRefusal {
  if (!(err instanceof HttpProblem) || (err.code !== "RATE_LIMIT_EXCEEDED" && err.code !== "REDIS_UNAVAILABLE"))
    throw err;
  return { code: err.code, message: err.detail, retryAfterSeconds: Number(err.extras.headers?.["Retry-After"] ?? 1) };
}

/** A limit, the key counted in it, and the points the request takes. */
type Count = [NamedLimiter, string, number];

/** The actions a governed request asks for: a batch's, else one. */
function actionsOf(body: unknown): number {
  const actions = (body as { actions?: unknown }).actions;
  return Array.isArray(actions) && actions.length > 0 ? actions.length : 1;
}

/** The agent a governed request speaks for (execute, evaluate, batch carry `agent_id`). */
function agentIdOf(body: unknown): string | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const id = (body as { agent_id?: unknown }).agent_id;
  return typeof id === "string" ? id : undefined;
}

/** Why one limit refuses the request (its problem, and whether the limit counted it), or undefined. */
async function refusalOf(
  named: NamedLimiter,
  key: string,
  points: number,
  windowSeconds: number,
): Promise<{ problem: unknown; counted: boolean } | undefined> {
  try {
    await named.limiter.consume(key, points);
    return undefined;
  } catch (outcome) {
    if (!(outcome instanceof RateLimiterRes)) {
      const why = "Rate limits cannot be checked: Redis is unavailable; retry shortly";
      return { problem: problem("REDIS_UNAVAILABLE", why, { headers: { "Retry-After": "1" } }), counted: false };
    }
    return { problem: limitProblem(named, windowSeconds, outcome), counted: true };
  }
}

function limitProblem(named: NamedLimiter, windowSeconds: number, outcome: RateLimiterRes) {
  const resetSeconds = Math.max(1, Math.ceil(outcome.msBeforeNext / 1000));
  return problem(
    "RATE_LIMIT_EXCEEDED",
    `Rate limit exceeded: ${named.quota} ${named.policy === "agent" ? "actions" : "requests"} per ${windowSeconds} s per ${named.policy}`,
    {
      headers: rateLimitHeaders(named, windowSeconds, resetSeconds),
    },
  );
}

/** Retry-After plus the IETF structured-field headers naming the policy that was hit. */
export function rateLimitHeaders(
  named: Pick<NamedLimiter, "policy" | "quota">,
  windowSeconds: number,
  resetSeconds: number,
) {
  return {
    "Retry-After": String(resetSeconds),
    "RateLimit-Policy": `"${named.policy}";q=${named.quota};w=${windowSeconds}`,
    RateLimit: `"${named.policy}";r=0;t=${resetSeconds}`,
  };
}
