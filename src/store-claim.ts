// Nodes that share a Redis prefix believe they are one cluster: they share rate limits, sessions, events and the
// approvals of dead nodes' turns. They must then share their store too — budgets, idempotency keys, approvals and
// the audit chain are in it. Two nodes each on an embedded SQLite file of their own but on one REDIS_URL and
// prefix would split all of that silently (each grants the whole budget, each runs an idempotency key once, an
// approval decided on one is unknown to the other).
//
// So a node registers its store's id (src/core/store/store-id.ts) under `{prefix}:store-id`, and refuses to start
// when a live node registered another one. Nodes on one PostgreSQL database read the same id and start side by
// side; one node restarting on its own SQLite file after a crash finds its own id there and starts. The key lives
// STORE_CLAIM_TTL_MS past its last refresh (every STORE_CLAIM_REFRESH_MS by each node), so a prefix whose nodes
// all stopped is free again shortly after: e.g. for the same nodes moved to PostgreSQL.
//
// Redis unreachable at start-up: the node starts (as it does for Redis' other uses, readiness says so) and
// registers as soon as its connection to Redis is ready (and again at every reconnection: a restarted Redis is
// empty). A conflict found then (or later: the key lapsed during a Redis outage and a node on another store took it)
// cannot stop a running node, so it takes the node out of rotation:
// the `store_claim` probe answers `conflict`, /readyz 503 and /health degraded, with an error logged at every
// refresh, until the prefix is this store's again.
//
// Out of rotation is not enough for a client that calls the node directly: while in conflict, the node's governed
// calls (evaluate, execute, batch, and the agent sessions' and MCP's authorizations) fail closed with 503
// STORE_CONFLICT (`refuseWhileInConflict`) — their budgets and idempotency keys are not the cluster's.
//
// A registration without an expiry (set by hand, or by a tool) would hold the prefix for ever: it is given the
// registration's TTL when found, so it lapses unless a live node keeps refreshing it.
//
// When Redis comes back empty (a restart), every node registers again, and the first to answer would win: a node on
// another store that was started during the outage could take the prefix from a running cluster, which would then
// fail closed everywhere. So a node that has never been registered (it started while Redis was down) waits
// STORE_CLAIM_NEWCOMER_GRACE_MS after its connection is ready before it registers: the prefix's nodes, which
// register at once on reconnection, are back first, and the newcomer finds their id (conflict) rather than an
// empty key.
import type { Redis } from "ioredis";
import { ConfigError } from "./config";
import type { GovernanceEngine } from "./core/governance/engine";
import { ActionUnavailableError } from "./core/governance/types";
import type { Logger } from "./core/log/logger";
import { type RedisHome, redisDbOf } from "./core/store/store-id";

export const STORE_CLAIM_TTL_MS = 30_000;
export const STORE_CLAIM_REFRESH_MS = 10_000;
/** How long a node never registered waits, once Redis is ready, before it registers (see above). */
export const STORE_CLAIM_NEWCOMER_GRACE_MS = 5_000;

/** `{prefix}:store-id`: the store id of the nodes running on the prefix. */
export function storeClaimKey(prefix: string): string {
  return `${prefix}:store-id`;
}

/**
 * Registers ARGV[1] unless another id is registered; answers the registered id (ARGV[1] when it is ours). Another
 * id without an expiry is given one (ARGV[2] ms): only a node that refreshes it keeps it.
 */
const CLAIM_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then
  if redis.call('PTTL', KEYS[1]) == -1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]`;

/**
 * What the last registration Redis answered found: `registered` (this store holds the prefix), `conflict` (another
 * store does); `unconfirmed` until Redis first answers.
 */
export type StoreClaimState = "registered" | "conflict" | "unconfirmed";

export interface StoreClaim {
  /** The `store_claim` probe: ready only when `registered`. */
  state(): StoreClaimState;
  /** Stops refreshing (the key lapses after STORE_CLAIM_TTL_MS: the store's other nodes keep it alive). */
  stop(): void;
}

export interface StoreClaimInput {
  redis: Redis;
  prefix: string;
  storeId: string;
  /** How this node's store is named in the refusal: e.g. "the SQLite file /data/gatehouse.sqlite". */
  store: string;
  logger: Logger;
  /** Between two registrations (default STORE_CLAIM_REFRESH_MS; tests shorten it). */
  refreshMs?: number;
  /** How long a node never registered waits once Redis is ready (default STORE_CLAIM_NEWCOMER_GRACE_MS). */
  newcomerGraceMs?: number;
}

/** The refusal of a node whose store is not the one the prefix's live nodes use. */
export function storeConflict(input: Pick<StoreClaimInput, "prefix" | "storeId" | "store">, registered: string) {
  return new ConfigError(
    "GATEHOUSE_REDIS_PREFIX",
    `'${input.prefix}' on this REDIS_URL is used by running Gatehouse nodes on another store (store id ${registered}; ` +
      `this node's store, ${input.store}, has store id ${input.storeId}). Nodes that share Redis must share one ` +
      "store: give every node the same PostgreSQL DATABASE_URL (several nodes cannot share an embedded SQLite file), " +
      "or give this node a GATEHOUSE_REDIS_PREFIX of its own. " +
      `(The other nodes' registration lapses ${STORE_CLAIM_TTL_MS / 1000} s after the last of them stopped.)`,
  );
}

/**
 * `redis://host:port/db` of a REDIS_URL, without its credentials: how the store records its Redis and a refusal
 * names one. The db is the one ioredis selects: the path's, else a `?db=` parameter's, else 0.
 */
export function redisAddressOf(url: string): string {
  try {
    const u = new URL(url);
    const db = u.pathname.length > 1 ? u.pathname.slice(1) : (u.searchParams.get("db") ?? "0");
    return `${u.protocol}//${u.host}/${/^\d{1,10}$/.test(db) ? Number(db) : db}`;
  } catch {
    return "an unparsable REDIS_URL";
  }
}

/**
 * The refusal of a node whose PostgreSQL store belongs to another Redis prefix: the other way round from
 * `storeConflict` (one prefix → one store), one store → one prefix. A node on another prefix would split the
 * cluster's rate limits, session caps and events while sharing its budgets and keys.
 */
export function prefixConflict(mine: RedisHome, recorded: RedisHome) {
  if (mine.prefix === recorded.prefix) return databaseConflict(mine, recorded);
  return new ConfigError(
    "GATEHOUSE_REDIS_PREFIX",
    `'${mine.prefix}' (on ${mine.address}) is not the prefix this node's PostgreSQL store belongs to: its nodes run on ` +
      `'${recorded.prefix}' (on ${recorded.address}). Nodes on one database must share one Redis prefix (rate ` +
      `limits, session caps and events are shared through it): set GATEHOUSE_REDIS_PREFIX=${recorded.prefix}, or, to ` +
      "move the whole cluster to this prefix, stop its nodes and start one with GATEHOUSE_REDIS_PREFIX_TAKEOVER=1.",
  );
}

/**
 * The refusal of a node on the store's prefix but in another Redis database (REDIS_URL `/3` where its nodes use
 * `/0`): the same prefix there is another cluster's keys, its rate limits, sessions and events its own.
 */
function databaseConflict(mine: RedisHome, recorded: RedisHome) {
  const [ours, theirs] = [redisDbOf(mine.address), redisDbOf(recorded.address)];
  return new ConfigError(
    "REDIS_URL",
    `selects Redis database ${ours} (${mine.address}), but this node's PostgreSQL store belongs to the prefix ` +
      `'${recorded.prefix}' in Redis database ${theirs} (${recorded.address}). Nodes on one database must share one ` +
      `Redis database and prefix (rate limits, session caps and events are shared through it): set REDIS_URL's ` +
      `database to /${theirs}, or, to move the whole cluster to database ${ours}, stop its nodes and start one with ` +
      "GATEHOUSE_REDIS_PREFIX_TAKEOVER=1.",
  );
}

export function noRedisConflict(recorded: RedisHome) {
  return new ConfigError(
    "REDIS_URL",
    `is not set, but this node's PostgreSQL store belongs to the Redis prefix '${recorded.prefix}' (on ` +
      `${recorded.address}): its nodes share rate limits, session caps and events there, and a node without Redis ` +
      `would keep its own. Set REDIS_URL (and GATEHOUSE_REDIS_PREFIX=${recorded.prefix}), or, to move the whole ` +
      "cluster off Redis, stop its nodes and start one with GATEHOUSE_REDIS_PREFIX_TAKEOVER=1.",
  );
}

/**
 * Registers the store id under the prefix and keeps it registered; throws `storeConflict` when a live node
 * registered another store. Redis not answering: logged, retried at each refresh.
 */
export async function claimStore(input: StoreClaimInput): Promise<StoreClaim> {
  const key = storeClaimKey(input.prefix);
  const register = async () =>
    String(await input.redis.eval(CLAIM_SCRIPT, 1, key, input.storeId, String(STORE_CLAIM_TTL_MS)));
  let state: StoreClaimState = "unconfirmed";
  const registered = await register().catch((err: unknown) => {
    input.logger.warn({ err: String(err) }, "cannot register the store id in Redis yet: will retry");
    return undefined;
  });
  if (registered !== undefined && registered !== input.storeId) throw storeConflict(input, registered);
  if (registered !== undefined) state = "registered";
  const newcomer = newcomerGrace(input, () => state === "registered");
  const refreshNow = () => {
    if (newcomer.waiting()) return;
    register().then(
      (now) => {
        state = now === input.storeId ? "registered" : "conflict";
        if (state === "conflict")
          input.logger.error({ registered: now, storeId: input.storeId }, storeConflict(input, now).message);
      },
      // What Redis last said stands: a Redis outage is the `redis` probe's to report, and a blip must not keep every
      // node out of rotation until its next refresh once Redis is back.
      (err: unknown) => input.logger.debug({ err: String(err) }, "cannot refresh the store id in Redis"),
    );
  };
  const refresh = setInterval(refreshNow, input.refreshMs ?? STORE_CLAIM_REFRESH_MS);
  refresh.unref();
  // Redis (re)connected — a restarted Redis keeps no keys: registered at once rather than at the next refresh, so
  // that a node on another store starting meanwhile has no window to take the prefix from a running cluster.
  const onReady = () => {
    newcomer.ready(refreshNow);
    refreshNow();
  };
  input.redis.on("ready", onReady);
  // Ready already, yet not registered (its first registration failed for another reason): the wait starts now.
  if (input.redis.status === "ready") newcomer.ready(refreshNow);
  return {
    state: () => state,
    stop: () => {
      clearInterval(refresh);
      newcomer.stop();
      input.redis.off("ready", onReady);
    },
  };
}

/**
 * The wait of a node that has never been registered: from each time its Redis connection is ready, for the grace,
 * after which it registers (`then`). A node registered once does not wait: it is one of the prefix's nodes.
 */
function newcomerGrace(input: StoreClaimInput, registeredOnce: () => boolean) {
  const graceMs = input.newcomerGraceMs ?? STORE_CLAIM_NEWCOMER_GRACE_MS;
  let everRegistered = registeredOnce();
  let graceOver = false;
  let timer: NodeJS.Timeout | undefined;
  const grace = {
    waiting(): boolean {
      everRegistered ||= registeredOnce();
      return !everRegistered && !graceOver;
    },
    ready(then: () => void): void {
      clearTimeout(timer);
      graceOver = false;
      if (!grace.waiting()) return;
      timer = setTimeout(() => {
        graceOver = true;
        then();
      }, graceMs);
      timer.unref();
    },
    stop: () => clearTimeout(timer),
  };
  return grace;
}

/**
 * The engine, its governed calls refused (ActionUnavailableError STORE_CONFLICT, a 503) while the claim is in
 * conflict. Without a claim (no Redis) it is the engine itself.
 */
export function refuseWhileInConflict(engine: GovernanceEngine, claim: StoreClaim | undefined): GovernanceEngine {
  if (!claim) return engine;
  const refuseInConflict = () => {
    if (claim.state() === "conflict")
      throw new ActionUnavailableError(
        "This node's store is not the one its Redis prefix's nodes run on (see /readyz): governed calls are refused " +
          "here until it is; retry on another node",
        "STORE_CONFLICT",
      );
  };
  // The engine's calls are closures (no `this`): each is wrapped as it is.
  const refusing = <F extends (...args: never[]) => Promise<unknown>>(call: F): F =>
    (async (...args: Parameters<F>) => {
      refuseInConflict();
      return call(...args);
    }) as F;
  return Object.assign({}, engine, {
    evaluate: refusing(engine.evaluate),
    authorize: refusing(engine.authorize),
    execute: refusing(engine.execute),
    batch: refusing(engine.batch),
  });
}
