// System operations shared by every face: health with real dependency probes, Prometheus metrics,
// the published spec (OpenAPI + AsyncAPI) and the JWKS.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import type { JWK } from "jose";
import type { components } from "../../generated/api-types";
import { registry } from "../core/metrics/registry";
import { type HandlerGroup, SerializedJson } from "../http/handlers";

type Health = components["schemas"]["Health"];
type DiscoveryHealth = components["schemas"]["DiscoveryHealth"];

/** A dependency probe: resolves to its state word (`connected`, `available`, `not_configured`, …). */
export type Probe = () => Promise<string>;

/**
 * The probe states in which a dependency counts as up: /health is `healthy` and /readyz ready when every probe they
 * ask is in one (`registered`: the node's store holds its Redis prefix, src/store-claim.ts; `in_sync`: the node's
 * clock agrees with the shared database's, src/clock-skew.ts).
 */
export const UP_STATES: ReadonlySet<string> = new Set([
  "connected",
  "available",
  "not_configured",
  "registered",
  "in_sync",
]);

export interface SystemDeps {
  version: string;
  openapi: Record<string, unknown>;
  asyncapiFile: string;
  probes: Record<string, Probe>;
  discovery?: () => Promise<DiscoveryHealth>;
  /** How long one round of probes answers `/health` (default 1 s). */
  probeMaxAgeMs?: number;
  /** Every public key Gatehouse publishes (dev issuer, capability tokens, audit). */
  jwks: () => JWK[] | Promise<JWK[]>;
}

/**
 * Runs every probe, at most once per `maxAgeMs`: concurrent and frequent `/health` calls (load balancers,
 * dashboards) share one probe of each dependency instead of each opening its own connection. Once a round has
 * answered, a stale result is served while the next round runs in the background: a dependency that is slow
 * to answer (an agent runtime busy with a 1 MiB prompt, a probe timing out) never makes `/health` slow.
 */
function probeAllCached(probes: Record<string, Probe>, maxAgeMs: number): () => Promise<Record<string, string>> {
  let last: { at: number; result: Promise<Record<string, string>> } | undefined;
  let settled: Record<string, string> | undefined;
  const run = async () => {
    const entries = await Promise.all(
      Object.entries(probes).map(async ([name, probe]) => {
        try {
          return [name, await probe()] as const;
        } catch {
          return [name, "unavailable"] as const;
        }
      }),
    );
    return Object.fromEntries(entries);
  };
  return () => {
    const now = Date.now();
    if (!last || now - last.at > maxAgeMs) {
      const result = run();
      last = { at: now, result };
      void result.then((answered) => {
        settled = answered;
      });
    }
    return settled ? Promise.resolve(settled) : last.result;
  };
}

export function systemHandlers(deps: SystemDeps) {
  const asyncapi = readFileSync(resolve(deps.asyncapiFile), "utf8");
  const probeAll = probeAllCached(deps.probes, deps.probeMaxAgeMs ?? 1000);
  // The answer changes only with a new round of probes or a new discovery index (each a new object): serialised
  // once per pair, not on every call (load balancers ask often). No ETag: the spec documents no 304 here.
  let answered: { dependencies: object; discovery: object | undefined; body: SerializedJson<Health> } | undefined;
  const healthBody = (dependencies: Record<string, string>, discovery: DiscoveryHealth | undefined) => {
    if (answered?.dependencies !== dependencies || answered.discovery !== discovery) {
      const healthy = Object.values(dependencies).every((s) => UP_STATES.has(s));
      const body: Health = {
        status: healthy ? "healthy" : "degraded",
        service: "gatehouse",
        version: deps.version,
        dependencies,
        ...(discovery ? { discovery } : {}),
      };
      answered = { dependencies, discovery, body: new SerializedJson(body, { etag: false }) };
    }
    return answered.body;
  };
  return {
    System_health: async () => {
      const dependencies = await probeAll();
      const discovery = deps.discovery ? await deps.discovery() : undefined;
      return { status: 200, body: healthBody(dependencies, discovery) };
    },
    System_metrics: async () => ({
      status: 200,
      body: await registry.metrics(),
      headers: { "content-type": registry.contentType },
    }),
    System_openapiDocument: () => ({ status: 200, body: deps.openapi }),
    System_asyncapiDocument: () => ({ status: 200, body: asyncapi, headers: { "content-type": "application/yaml" } }),
    System_jwks: async () => ({ status: 200, body: { keys: (await deps.jwks()) as components["schemas"]["Jwk"][] } }),
  } satisfies HandlerGroup;
}
