// Long-poll for the shared approvals service (./approvals-service.ts): a waiter wakes on the event bus (Redis
// pub/sub: a decision on another node reaches it within the publish latency, milliseconds) and re-reads the row
// every `pollIntervalMs` anyway (a lost event only delays).
import { EventEmitter } from "node:events";
import type { Approval } from "../../approvals";
import type { EventBus } from "../../events";

export interface SharedWaitersDeps {
  events: EventBus;
  pollIntervalMs: number;
  now: () => Date;
  /** The approval as a read sees it (overdue ones expired first). */
  get: (orgId: string, approvalId: string) => Promise<Approval | null>;
  /** The row as stored, without expiring anything. */
  read: (orgId: string, approvalId: string) => Promise<Approval | null>;
}

export interface SharedWaiters {
  /** See ApprovalsService.waitForDecision. */
  wait(orgId: string, approvalId: string, timeoutMs: number, signal?: AbortSignal): Promise<Approval | null>;
  /** Stops listening on the bus and ends every pending wait with a last read. */
  close(): void;
}

export function createSharedWaiters(deps: SharedWaitersDeps): SharedWaiters {
  const { get, read, now } = deps;
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const wake = (event: { approval_id: string }) => changes.emit(event.approval_id);
  const unsubscribe = [
    deps.events.subscribe("approval.decided", wake),
    deps.events.subscribe("approval.expired", wake),
  ];
  const closers = new Set<() => void>();

  async function wait(orgId: string, approvalId: string, timeoutMs: number, signal?: AbortSignal) {
    const current = await get(orgId, approvalId);
    if (!current || current.status !== "pending" || timeoutMs <= 0 || signal?.aborted) return current;
    return new Promise<Approval | null>((resolve) => {
      let done = false;
      let checking = false;
      const check = async () => {
        if (done || checking) return;
        checking = true;
        try {
          const latest = await get(orgId, approvalId);
          if (!latest || latest.status !== "pending") finish(latest);
        } catch {
          // the database does not answer now: the next re-check or the timeout answers
        } finally {
          checking = false;
        }
      };
      const finish = (value: Approval | null) => {
        if (done) return;
        done = true;
        clearTimeout(timeout);
        clearTimeout(expiry);
        clearInterval(poll);
        changes.off(approvalId, onChange);
        signal?.removeEventListener("abort", onAbort);
        closers.delete(onAbort);
        resolve(value);
      };
      const onChange = () => void check();
      const lastRead = () =>
        read(orgId, approvalId).then(
          (value) => finish(value),
          () => finish(current),
        );
      const onAbort = () => void lastRead();
      const timeout = setTimeout(() => void lastRead(), timeoutMs);
      // Wake exactly when it expires, so the waiter hears "expired" rather than a stale "pending".
      const untilExpiry = Date.parse(current.expires_at) - now().getTime();
      const expiry = setTimeout(onChange, Math.min(Math.max(untilExpiry, 0) + 1, 2 ** 31 - 1)).unref();
      const poll = setInterval(onChange, deps.pollIntervalMs).unref();
      changes.on(approvalId, onChange);
      signal?.addEventListener("abort", onAbort, { once: true });
      closers.add(onAbort);
    });
  }

  return {
    wait,
    close() {
      for (const stop of unsubscribe) stop();
      for (const stop of Array.from(closers)) stop();
    },
  };
}
