// Nodes on one PostgreSQL database compare times another node wrote with their own clock: an idempotency lease's
// end (written by the owner's clock) with the retrying node's, a key's or an approval's expiry with the node that
// sweeps it, an hour's budget window with the hour of the node that counts. A node whose clock runs ahead declares
// live leases dead (a live call's answer is lost), deletes live keys (a call runs twice), expires every pending
// approval of the cluster; one that runs behind keeps what is over alive. Every one of those guarantees holds only
// while the nodes' clocks agree, and nothing else bounds how far they drift apart.
//
// So a node on the shared store measures its clock against the database's — one clock every node sees — at start and
// every CLOCK_SKEW_CHECK_MS: the database's clock_timestamp() against the middle of the round trip that read it
// (the answer was taken somewhere in it; half the round trip is the error, and a slow round trip is measured again
// rather than believed). Beyond GATEHOUSE_MAX_CLOCK_SKEW_MS (either way) the `clock_skew` probe answers
// `skewed:<offset>ms`: /readyz 503 and /health degraded, an error logged at each measure, and the node's governed
// calls and approval decisions are refused with 503 CLOCK_SKEW (`refuseWhileSkewed`) until its clock agrees again.
//
// What the node cannot measure (the database answers with an error) leaves the last measure standing: the outage is
// the `database` probe's to report. A measure the database does not answer within CLOCK_SKEW_MEASURE_TIMEOUT_MS is
// given up, and the probe answers `unknown` until a measure is answered: the pool's own bound is 30 s per wait and
// per query, after which the error kept the last good state standing for as long as the database hung — a node
// whose clock was stepped meanwhile stayed in rotation on a state nobody could check. A node never measured is
// `unmeasured`. Both are not ready, and refused like a skewed one: nothing it decides on its own clock is known to
// be safe.
//
// Beside the guard, the measure aligns the shared stores' clock (`alignedClock`): the times a node writes and
// compares — lease ends, key and approval expiries, audit timestamps — are the database's time at the last measure
// plus the monotonic time elapsed since, so the database's clock within the measure's error, the same on every node,
// whatever the wall clock does between two measures. A step of the wall clock beyond the bound is seen (its elapsed
// time against the monotonic clock's) and makes the node `unmeasured` until a measure taken at once answers. Within
// the bound that removes the residual skew; beyond it, what the node still does on its own (the approvals' expiry
// sweep, the keys' purge) expires nothing another node wrote before the database's clock says so.
//
// An embedded SQLite file has one node: its clock is the only one, and no guard is started (its audit appends read the
// wall clock against the monotonic time elapsed since the process started: src/core/audit/audit-log.ts clockWitness).

import type { GovernanceEngine } from "./core/governance/engine";
import { ActionUnavailableError } from "./core/governance/types";
import type { Logger } from "./core/log/logger";
import type { ApprovalsService } from "./core/ports";

/** Between two measures (each one statement on the pool). */
export const CLOCK_SKEW_CHECK_MS = 15_000;
/** A round trip longer than this measures nothing (its half is the error): the node measures again. */
export const CLOCK_SKEW_MAX_ROUND_TRIP_MS = 1_000;
/**
 * One measure given up after this long without an answer (the probe is then `unknown`). Above the three round trips
 * of a slow but answering database (TRIES × CLOCK_SKEW_MAX_ROUND_TRIP_MS, each taken as too slow to tell, which keeps
 * the last measure), below the interval, so a hung measure ends before the next one is due; and far below the
 * pool's 30 s, which was the only bound. The query given up still holds its pool client until the pool's
 * query_timeout: with one measure at a time, at most two such clients.
 */
export const CLOCK_SKEW_MEASURE_TIMEOUT_MS = 5_000;
/** Tries of one measure before it gives up until the next one. */
const TRIES = 3;
/** Between two looks for a step of the wall clock (two clock reads) besides the one each state() takes. */
export const CLOCK_JUMP_WATCH_MS = 1_000;

/** The probe's word while the offset is within the bound (an up state: src/system/handlers.ts UP_STATES). */
export const CLOCK_IN_SYNC = "in_sync";
/** The probe's word after a measure the database did not answer in time (not an up state). */
export const CLOCK_UNKNOWN = "unknown";

export interface ClockSkewInput {
  /** The database's clock, epoch ms (clock_timestamp(), not the transaction's now()). */
  databaseNow: () => Promise<number>;
  /** This node's clock, epoch ms (default Date.now: tests inject a clock ahead or behind). */
  now?: () => number;
  /** A monotonic clock, ms (default performance.now): what really elapsed, against which a step of `now` shows. */
  monotonicNow?: () => number;
  /** GATEHOUSE_MAX_CLOCK_SKEW_MS: the largest offset, either way, at which the node serves. */
  maxSkewMs: number;
  logger: Logger;
  /** Between two measures (default CLOCK_SKEW_CHECK_MS; tests shorten it). */
  intervalMs?: number;
  /** How long one measure waits for the database (default CLOCK_SKEW_MEASURE_TIMEOUT_MS; tests shorten it). */
  measureTimeoutMs?: number;
  /** Told every offset measured: the shared stores' clock is aligned on the database's with it. */
  onMeasure?: (offsetMs: number) => void;
}

export interface ClockSkewGuard {
  /** The `clock_skew` probe: `in_sync`, `skewed:<+/-offset>ms`, `unknown` (last measure unanswered) or `unmeasured`. */
  state(): string;
  /** The database's clock minus this node's, ms, as last measured (undefined before the first measure). */
  offsetMs(): number | undefined;
  /** Measures now (the timer's work; tests call it). */
  check(): Promise<void>;
  stop(): void;
}

/**
 * One measure: the database's clock minus the middle of the round trip that read it, on this node's clock.
 * Undefined when every try's round trip was too long to tell.
 */
export async function measureClockOffset(
  databaseNow: () => Promise<number>,
  now: () => number = Date.now,
): Promise<number | undefined> {
  for (let i = 0; i < TRIES; i++) {
    const before = now();
    const database = await databaseNow();
    const after = now();
    // A negative round trip is a clock stepped back during it: its middle tells nothing either.
    const roundTrip = after - before;
    if (roundTrip >= 0 && roundTrip <= CLOCK_SKEW_MAX_ROUND_TRIP_MS) return Math.round(database - (before + after) / 2);
  }
  return undefined;
}

/** Nothing answered within the measure's timeout. */
const UNANSWERED = Symbol("unanswered");

/** measureClockOffset, given up after `timeoutMs` (UNANSWERED); an error is undefined, as a round trip too long. */
async function measureWithin(input: ClockSkewInput): Promise<number | undefined | typeof UNANSWERED> {
  const timeoutMs = input.measureTimeoutMs ?? CLOCK_SKEW_MEASURE_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof UNANSWERED>((given) => {
    timer = setTimeout(() => given(UNANSWERED), timeoutMs);
  });
  const measured = measureClockOffset(input.databaseNow, input.now).catch((err: unknown) => {
    input.logger.debug({ err: String(err) }, "cannot measure the clock against the database's");
    return undefined;
  });
  try {
    const answer = await Promise.race([measured, timeout]);
    if (answer === UNANSWERED)
      input.logger.warn(
        { measureTimeoutMs: timeoutMs },
        "the database did not tell its clock in time: clock_skew is unknown (not ready, governed calls refused) " +
          "until it does",
      );
    return answer;
  } finally {
    clearTimeout(timer);
  }
}

/** The wall clock and the monotonic clock read together. */
type Reading = { wallMs: number; monotonicMs: number };

/** How far the wall clock moved between two readings beyond the time that really elapsed: its step, ms. */
export function wallClockStep(since: Reading, at: Reading): number {
  return at.wallMs - since.wallMs - (at.monotonicMs - since.monotonicMs);
}

/**
 * Measures at once (awaited: the node is ready or not from its first answer), then every `intervalMs`, and at once
 * again when the wall clock steps by more than the allowed skew since the last measure (looked for at each state()
 * and every CLOCK_JUMP_WATCH_MS): the offset measured before the step is then wrong by the step, so the node is
 * `unmeasured` (not ready, governed calls refused) until that measure answers.
 */
export async function guardClockSkew(input: ClockSkewInput): Promise<ClockSkewGuard> {
  const nodeNow = input.now ?? Date.now;
  const monotonicNow = input.monotonicNow ?? (() => performance.now());
  const reading = (): Reading => ({ wallMs: nodeNow(), monotonicMs: monotonicNow() });
  let offset: number | undefined;
  let measuredAt: Reading | undefined;
  let unanswered = false;
  const skewed = () => offset !== undefined && Math.abs(offset) > input.maxSkewMs;
  const check = async () => {
    const measured = await measureWithin(input);
    if (measured === UNANSWERED) unanswered = true;
    if (measured === UNANSWERED || measured === undefined) return;
    unanswered = false;
    offset = measured;
    measuredAt = reading();
    input.onMeasure?.(offset);
    if (skewed()) input.logger.error({ offsetMs: offset, maxSkewMs: input.maxSkewMs }, skewMessage(offset, input));
  };
  await check();
  // One measure at a time: a database that hangs without answering must not pile up a query every interval.
  let measuring = false;
  const tick = () => {
    if (measuring) return;
    measuring = true;
    void check().finally(() => {
      measuring = false;
    });
  };
  const watchForStep = () => {
    if (measuredAt === undefined) return;
    const step = wallClockStep(measuredAt, reading());
    if (Math.abs(step) <= input.maxSkewMs) return;
    input.logger.warn({ stepMs: step, maxSkewMs: input.maxSkewMs }, stepMessage(step));
    offset = undefined;
    measuredAt = undefined;
    tick();
  };
  const timer = setInterval(tick, input.intervalMs ?? CLOCK_SKEW_CHECK_MS);
  timer.unref();
  const watch = setInterval(watchForStep, CLOCK_JUMP_WATCH_MS);
  watch.unref();
  return {
    state: () => {
      watchForStep();
      if (unanswered) return CLOCK_UNKNOWN;
      if (offset === undefined) return "unmeasured";
      return skewed() ? `skewed:${offset > 0 ? "-" : "+"}${Math.abs(offset)}ms` : CLOCK_IN_SYNC;
    },
    offsetMs: () => offset,
    check,
    stop: () => {
      clearInterval(timer);
      clearInterval(watch);
    },
  };
}

function stepMessage(step: number): string {
  return (
    `this node's wall clock stepped ${Math.abs(step)} ms ${step > 0 ? "forward" : "back"} since its last measure ` +
    "(NTP step, paused VM, date -s): unmeasured (not ready, governed calls refused) until it is measured again, now"
  );
}

/** The offset in words: a positive offset is a database ahead, so this node's clock is behind. */
function skewMessage(offset: number, input: Pick<ClockSkewInput, "maxSkewMs">): string {
  const way = offset > 0 ? "behind" : "ahead of";
  return (
    `this node's clock is ${Math.abs(offset)} ms ${way} the database's (GATEHOUSE_MAX_CLOCK_SKEW_MS is ` +
    `${input.maxSkewMs}): it is out of rotation and refuses governed calls until its clock is synchronised (NTP)`
  );
}

/**
 * The shared stores' clock: the database's time at the last measure plus the time elapsed since on the monotonic
 * clock (the node's own clock until the first measure). The wall clock is read only when a measure aligns it: a step
 * of it between two measures (NTP step, paused VM, `date -s`) was the node's clock plus an offset measured before the
 * step, and passed straight into lease ends, key and approval expiries, budget hours and audit timestamps; now it
 * changes nothing until the next measure, which the guard takes at once when it sees the step (wallClockStep).
 */
export function alignedClock(
  nodeNow: () => number = Date.now,
  monotonicNow: () => number = () => performance.now(),
): { now: () => Date; align: (offsetMs: number) => void } {
  let anchor: { databaseMs: number; monotonicMs: number } | undefined;
  return {
    now: () => new Date(anchor ? anchor.databaseMs + (monotonicNow() - anchor.monotonicMs) : nodeNow()),
    align: (offsetMs) => {
      anchor = { databaseMs: nodeNow() + offsetMs, monotonicMs: monotonicNow() };
    },
  };
}

/**
 * A service's calls `names`, each refused first when `refuse` throws; its other members as they are. Each wrapper is
 * made once, on its first read, and handed out again after: the engine's methods are read on every governed call
 * (the hot path of a PostgreSQL node), which made a closure each time. A wrapper is remade only if the service's
 * own function under that name changed, so a call reaches the function the service holds now, as before.
 */
function refusing<T extends object>(service: T, names: readonly (keyof T)[], refuse: () => void): T {
  type Call = (...args: unknown[]) => unknown;
  const wrappers = new Map<PropertyKey, { of?: Call; call?: Call }>(names.map((name) => [name, {}]));
  return new Proxy(service, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      const made = wrappers.get(key);
      if (made === undefined || typeof value !== "function") return value;
      if (made.of !== value) {
        const of = value as Call;
        made.of = of;
        made.call = async (...args: unknown[]) => {
          refuse();
          return of.apply(target, args);
        };
      }
      return made.call;
    },
  });
}

/**
 * The engine's governed calls and the approvals' decisions, refused (ActionUnavailableError CLOCK_SKEW, a 503)
 * while the node's clock is not known to agree with the database's. Without a guard (SQLite) they are as they are.
 */
export function refuseWhileSkewed(
  services: { engine: GovernanceEngine; approvals: ApprovalsService },
  guard: ClockSkewGuard | undefined,
): { engine: GovernanceEngine; approvals: ApprovalsService } {
  if (!guard) return services;
  const refuse = () => {
    const state = guard.state();
    if (state !== CLOCK_IN_SYNC)
      throw new ActionUnavailableError(
        `This node's clock is not known to agree with the database's (clock_skew: ${state}; see /readyz): ` +
          "governed calls and approval decisions are refused here until it does; retry on another node",
        "CLOCK_SKEW",
      );
  };
  return {
    engine: refusing(services.engine, ["evaluate", "authorize", "execute", "batch"], refuse),
    approvals: refusing(services.approvals, ["approve", "deny"], refuse),
  };
}
