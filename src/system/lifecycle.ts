// The node's lifecycle as probes see it, and the bookkeeping a graceful drain needs.
// starting → ready (listening) → draining (SIGTERM): readiness answers 503 outside `ready`, so a load
// balancer stops sending traffic before the process goes away.
import type { Server } from "node:http";
import type { components } from "../../generated/api-types";
import type { Handlers } from "../http/handlers";
import { HttpProblem } from "../http/problem";
import { type Probe, UP_STATES } from "./handlers";

type Readiness = components["schemas"]["Readiness"];

export type Phase = "starting" | "ready" | "draining";

export interface Lifecycle {
  readonly phase: Phase;
  markReady(): void;
  startDraining(): void;
}

export function createLifecycle(): Lifecycle {
  let phase: Phase = "starting";
  return {
    get phase() {
      return phase;
    },
    markReady() {
      if (phase === "starting") phase = "ready";
    },
    startDraining() {
      phase = "draining";
    },
  };
}

/** A probe that does not answer within this bound counts as down (a hung database must not hang /readyz). */
const PROBE_TIMEOUT_MS = 2000;

async function probeWithin(probe: Probe, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((ok) => {
    timer = setTimeout(() => ok("timeout"), ms);
  });
  try {
    return await Promise.race([probe().catch(() => "unavailable"), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function notReady(detail: string, checks?: Record<string, string>): HttpProblem {
  const errors = Object.entries(checks ?? {})
    .filter(([, state]) => !UP_STATES.has(state))
    .map(([name, state]) => ({ pointer: `/checks/${name}`, message: `${name} is ${state}` }));
  return new HttpProblem(503, detail, {
    code: "NOT_READY",
    headers: { "retry-after": "5" },
    ...(errors.length ? { errors } : {}),
  });
}

/**
 * `/livez` and `/readyz`. `checks` are the dependencies this node cannot serve without (the database, Redis
 * when configured); the agent runtime is not one of them: REST traffic does not need it.
 */
export function probeHandlers(
  lifecycle: Lifecycle,
  checks: Record<string, Probe>,
): Required<Pick<Handlers, "System_livez" | "System_readyz">> {
  return {
    System_livez: () => ({ status: 200, body: { status: "alive" } }),
    System_readyz: async () => {
      if (lifecycle.phase !== "ready") throw notReady(`not ready: ${lifecycle.phase}`);
      const entries = await Promise.all(
        Object.entries(checks).map(
          async ([name, probe]) => [name, await probeWithin(probe, PROBE_TIMEOUT_MS)] as const,
        ),
      );
      const states = Object.fromEntries(entries);
      const down = entries.filter(([, state]) => !UP_STATES.has(state)).map(([name]) => name);
      if (down.length) throw notReady(`not ready: ${down.join(", ")} not available`, states);
      const body: Readiness = { status: "ready", checks: states };
      return { status: 200, body };
    },
  };
}

/** Counts requests in flight on a server, so a drain can wait for them (bounded) before closing sockets. */
export function trackInFlight(server: Server): { active(): number; settled(timeoutMs: number): Promise<boolean> } {
  let active = 0;
  const waiters = new Set<() => void>();
  // One listener function for every response (a response closes once), not a closure and a once-wrapper each.
  const closed = () => {
    active--;
    if (active === 0) for (const wake of waiters) wake();
  };
  server.on("request", (_req, res) => {
    active++;
    res.on("close", closed);
  });
  return {
    active: () => active,
    settled(timeoutMs) {
      if (active === 0) return Promise.resolve(true);
      return new Promise<boolean>((ok) => {
        const done = (result: boolean) => {
          clearTimeout(timer);
          waiters.delete(wake);
          ok(result);
        };
        const wake = () => done(true);
        const timer = setTimeout(() => done(false), timeoutMs);
        waiters.add(wake);
      });
    },
  };
}
