// Errors of the shared database that say "not now" rather than "no": the connection was lost or cut, the server
// is shutting down, a lock or an idle transaction ran past its bound (./postgres.ts), a query timed out. A governed
// call they stop has not run (its connector runs only once its reservation has committed and answered): the
// answer is a 503 the client may retry (with the same idempotency key, the call runs at most once), never a 500.

/** SQLSTATEs of such errors (PostgreSQL appendix A). */
const TRANSIENT_CODES = new Set([
  "57P01", // admin_shutdown (pg_terminate_backend, a restart)
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up)
  "25P03", // idle_in_transaction_session_timeout
  "55P03", // lock_not_available (lock_timeout)
  "57014", // query_canceled (statement_timeout)
  "40001", // serialization_failure
  "40P01", // deadlock_detected
]);

/** Messages of node-postgres's own errors, which carry no SQLSTATE. */
const TRANSIENT_MESSAGES = [
  /Connection terminated/i,
  /Query read timeout/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
];

/** A lost connection or a timed-out lock often leaves a database that answers a ping again at once. */
export function isTransientDatabaseError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && (code.startsWith("08") || TRANSIENT_CODES.has(code))) return true;
  return TRANSIENT_MESSAGES.some((pattern) => pattern.test(err.message));
}

/**
 * Whether a store failure means the database is unavailable (503, fail closed) rather than a refusal or a bug: a
 * transient error says so at once; anything else only if the database does not answer a ping afterwards.
 */
export async function isDatabaseOutage(err: unknown, ping: () => Promise<boolean>): Promise<boolean> {
  return isTransientDatabaseError(err) || !(await ping());
}

/**
 * PostgreSQL refusing a text value it cannot hold (NUL, U+0000: SQLSTATE 22021 character_not_in_repertoire; 22P05
 * untranslatable_character). Nothing was written (the statement, and its transaction, failed): a refusal of the
 * request's text, not a fault of the store. The spec refuses NUL in the fields it knows are stored as text; this
 * names the others.
 */
export function isUnstorableTextError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return err instanceof Error && (code === "22021" || code === "22P05");
}
