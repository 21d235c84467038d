// Waiting for an operator's verdict (long-poll on REST, the WS face): a waiter wakes on the event bus (this node's
// and every other node's decisions), exactly when the approval expires, or on its re-check timer.
import { EventEmitter } from "node:events";
import type { EventBus } from "../events";
import type { Approval } from "./types";

export interface DecisionWaitersDeps {
  events: EventBus;
  /** Waiters re-read the approval this often: the safety net for a decision whose event was lost. */
  pollIntervalMs: number;
  now: () => Date;
  /** The approval as a read by id sees it (overdue ones expired first). */
  read: (org_id: string, approval_id: string) => Approval | null;
  /** The approval as stored, without expiring anything (for a waiter that is aborted). */
  readStored: (org_id: string, approval_id: string) => Approval | null;
}

export interface DecisionWaiters {
  /** See ApprovalStore.waitForDecision. */
  wait(org_id: string, approval_id: string, timeoutMs: number, signal?: AbortSignal): Promise<Approval | null>;
  /** Wakes the waiters of one approval now (a change committed on this node without a bus event yet). */
  wake(approval_id: string): void;
  /** Stops listening on the bus and ends every pending wait with the approval as stored. */
  close(): void;
}

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

  function wait(org_id: string, approval_id: string, timeoutMs: number, signal?: AbortSignal) {
    const current = read(org_id, approval_id);
    if (!current || current.status !== "pending" || timeoutMs <= 0 || signal?.aborted) return Promise.resolve(current);
    return new Promise<Approval | null>((resolve) => {
      const check = () => {
        const latest = read(org_id, approval_id);
        if (!latest || latest.status !== "pending") finish(latest);
      };
      const finish = (value: Approval | null) => {
        clearTimeout(timeout);
        clearTimeout(expiry);
        clearInterval(poll);
        changes.off(approval_id, check);
        signal?.removeEventListener("abort", onAbort);
        closers.delete(onAbort);
        resolve(value);
      };
      const onAbort = () => finish(deps.readStored(org_id, approval_id));
      const timeout = setTimeout(() => finish(read(org_id, approval_id)), timeoutMs);
      // Wake exactly when it expires, so the waiter hears "expired" rather than a stale "pending".
      const untilExpiry = Date.parse(current.expires_at) - now().getTime();
      const expiry = setTimeout(check, Math.max(untilExpiry, 0) + 1).unref();
      const poll = setInterval(check, deps.pollIntervalMs).unref();
      changes.on(approval_id, check);
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
