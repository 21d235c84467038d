// Records that must be stored once a call has RUN (its audit outcome, its idempotency key's answer): a failed write
// is tried again, with backoff, until it is stored — the database may be away for seconds (a failover, a cut
// network). The caller's answer waits for them up to a bound; past it, it is told the action ran and its records are
// pending (503 OUTCOME_NOT_YET_RECORDED), and the writes go on in the background.
import { logger } from "../log/logger";

const log = logger.child({ module: "governance" });

/** How long a request waits for its records after its call ran, unless configured. */
export const DEFAULT_RECORD_WAIT_MS = 30_000;

/** The waits between attempts: doubling from FIRST up to MAX. Each attempt is bounded by the store's own timeouts. */
const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5_000;
/** A record still failing after this long is given up (and logged): the key it belongs to lives 24 h. */
const RETRY_FOR_MS = 24 * 60 * 60 * 1000;

/**
 * Runs `attempt` until it succeeds, waiting between failures; rejects with the last error when `final` says it
 * can never succeed, or after 24 h. `beforeRetry` runs first on every new attempt (e.g. "was it stored after all?").
 */
export async function untilStored<T>(
  attempt: (retry: number) => Promise<T>,
  what: { record: string; interactionId?: string | undefined; final?: (err: unknown) => boolean },
): Promise<T> {
  const giveUpAt = Date.now() + RETRY_FOR_MS;
  let wait = FIRST_RETRY_MS;
  for (let retry = 0; ; retry++) {
    try {
      return await attempt(retry);
    } catch (err) {
      if (what.final?.(err) || Date.now() >= giveUpAt) throw err;
      log.warn({ err, interactionId: what.interactionId, retry }, `${what.record} not stored yet: trying again`);
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, MAX_RETRY_MS);
    }
  }
}

/** Whether `promise` settles within `ms` (its rejection counts as settled: the caller then awaits it). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
