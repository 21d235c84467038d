// Waiting for an operator's verdict (long-poll on REST, the WS face), for both backends: the embedded store
// (synchronous reads) and the shared store's service (src/core/store/shared/approvals-service.ts, reads over
// the network). A waiter wakes on the event bus (this node's and every other node's decisions: Redis pub/sub in
// a cluster), exactly when the approval expires, or on its re-check timer (a lost event only delays).
import { EventEmitter } from "node:events";
import type { EventBus } from "../events";
import type { Approval } from "./types";

type Read = (org_id: string, approval_id: string) => Approval | null | Promise<Approval | null>;

export interface DecisionWaitersDeps {
  events: EventBus;
  /** Waiters re-read the approval this often: the safety net for a decision whose event was lost. */
  pollIntervalMs: number;
  now: () => Date;
  /** The approval as a read by id sees it (overdue ones expired first). */
  read: Read;
  /** The approval as stored, without expiring anything (for a waiter that is aborted or closed). */
  readStored: Read;
}

export interface DecisionWaiters {
  /** See ApprovalStore.waitForDecision. */
  wait(org_id: string, approval_id: string, timeoutMs: number, signal?: AbortSignal): Promise<Approval | null>;
  /** Wakes the waiters of one approval now (a change committed on this node without a bus event yet). */
  wake(approval_id: string): void;
  /** Stops listening on the bus and ends every pending wait with the approval as stored. */
  close(): void;
}

/** setTimeout's longest delay; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function createDecisionWaiters(deps: DecisionWaitersDeps): DecisionWaiters {
  const { read, now } = deps;
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  // Waiters listen on `changes` by approval id; the bus (this node's and every other node's decisions) feeds it.
  const wake = (event: { approval_id: string }) => changes.emit(event.approval_id);
  const unsubscribe = [
    deps.events.subscribe("approval.decided", wake),
    deps.events.subscribe("approval.expired", wake),
  ];
  const closers = new Set<() => void>();

  async function wait(org_id: string, approval_id: string, timeoutMs: number, signal?: AbortSignal) {
    const current = await read(org_id, approval_id);
    if (current?.status !== "pending" || timeoutMs <= 0 || signal?.aborted) return current;
    return new Promise<Approval | null>((resolve) => {
      let done = false;
      // One read at a time; a wake during a read asks for one more after it (that read may predate the change).
      let reading = false;
      let again = false;
      const check = async () => {
        if (done) return;
        if (reading) {
          again = true;
          return;
        }
        reading = true;
        try {
          do {
            again = false;
            const latest = await read(org_id, approval_id);
            if (latest?.status !== "pending") finish(latest);
          } while (again && !done);
        } catch {
          // the database does not answer now: the next re-check or the timeout answers
        } finally {
          reading = false;
        }
      };
      const finish = (value: Approval | null) => {
        if (done) return;
        done = true;
        clearTimeout(timeout);
        clearTimeout(expiry);
        clearInterval(poll);
        changes.off(approval_id, onChange);
        signal?.removeEventListener("abort", onAbort);
        closers.delete(onAbort);
        resolve(value);
      };
      const onChange = () => void check();
      /** The last answer: as read now, or (the database not answering) the approval as the wait began. */
      const lastRead = (readNow: Read) => {
        Promise.resolve()
          .then(() => readNow(org_id, approval_id))
          .then(finish, () => finish(current));
      };
      const onAbort = () => lastRead(deps.readStored);
      const timeout = setTimeout(() => lastRead(read), timeoutMs);
      // Wake exactly when it expires, so the waiter hears "expired" rather than a stale "pending".
      const untilExpiry = Date.parse(current.expires_at) - now().getTime();
      const expiry = setTimeout(onChange, Math.min(Math.max(untilExpiry, 0) + 1, MAX_TIMER_MS)).unref();
      const poll = setInterval(onChange, deps.pollIntervalMs).unref();
      changes.on(approval_id, onChange);
      signal?.addEventListener("abort", onAbort, { once: true });
      closers.add(onAbort);
    });
  }

  return {
    wait,
    wake: (approval_id) => changes.emit(approval_id),
    close() {
      for (const stop of unsubscribe) stop();
      for (const stop of Array.from(closers)) stop();
    },
  };
}
