// The live approvals feed of the operator console. Two sources, so that it keeps working when several gateway
// nodes share one database:
//  - in-process verdicts (`ApprovalStore.onDecided`): approved, denied and expired on this node, at once;
//  - a cheap periodic read of the approvals table (`approvalChangesSince`, every ~1 s while someone listens):
//    rows created, decided or consumed by any node.
// Each org with at least one listener has one watcher; it stops when the last listener leaves.
import type { Approval } from "../../core/approvals";
import type { ApprovalChange } from "../../core/approvals/changes";
import type { ApprovalsService } from "../../core/ports";

export type ApprovalListener = (approval: Approval) => void;

export interface ApprovalEventsOptions {
  approvals: Pick<ApprovalsService, "get" | "onDecided" | "changesSince">;
  /** How often the table is read for changes made elsewhere. */
  pollIntervalMs?: number;
  now?: () => Date;
}

export interface ApprovalEvents {
  /**
   * Calls `listener` with each approval of `orgId` that is created or changes status; returns unsubscribe.
   * `onClosed` is called when the feed shuts down (the gateway stops), so open streams can end.
   */
  subscribe(orgId: string, listener: ApprovalListener, onClosed?: () => void): () => void;
  /** Stops every watcher and ends every subscription. */
  close(): void;
}

/**
 * Rows written by another node carry that node's clock: the table is read from a little before the newest
 * change seen, and what was already sent in that window is remembered so it is not sent twice.
 */
const CLOCK_SLACK_MS = 5_000;

interface OrgWatcher {
  listeners: Set<ApprovalListener>;
  /** `${approval_id}:${status}` → changed_at, for the changes already sent within the slack window. */
  sent: Map<string, string>;
  /** The newest change seen; the table is read from CLOCK_SLACK_MS before it. */
  newest: string;
  timer: NodeJS.Timeout;
  /** A read is under way. */
  polling: boolean;
}

export function createApprovalEvents({
  approvals,
  pollIntervalMs = 1000,
  now = () => new Date(),
}: ApprovalEventsOptions): ApprovalEvents {
  const watchers = new Map<string, OrgWatcher>();
  const closers = new Set<() => void>();

  function deliver(watcher: OrgWatcher, approval: Approval, changedAt: string): void {
    const key = `${approval.approval_id}:${approval.status}`;
    if (watcher.sent.has(key)) return;
    watcher.sent.set(key, changedAt);
    for (const listener of watcher.listeners) listener(approval);
  }

  async function poll(orgId: string, watcher: OrgWatcher): Promise<void> {
    if (watcher.polling) return; // a slow read (networked store) is not overtaken by the next tick
    watcher.polling = true;
    try {
      await pollOnce(orgId, watcher);
    } catch {
      // the database is closing, busy or down: the next tick tries again
    } finally {
      watcher.polling = false;
    }
  }

  async function pollOnce(orgId: string, watcher: OrgWatcher): Promise<void> {
    const from = slackBefore(watcher.newest);
    const changes: ApprovalChange[] = await approvals.changesSince(orgId, from);
    for (const change of changes) {
      const approval = await approvals.get(orgId, change.approval_id);
      if (approval) deliver(watcher, approval, change.changed_at);
      if (change.changed_at > watcher.newest) watcher.newest = change.changed_at;
    }
    // Changes older than the window are never read again: no need to remember them.
    const floor = slackBefore(watcher.newest);
    for (const [key, at] of watcher.sent) if (at < floor) watcher.sent.delete(key);
  }

  // In-process verdicts. The listener runs inside the store's transaction, which may still roll back: the
  // approval is re-read after it, and only a status that was really stored goes out.
  const unsubscribeDecided = approvals.onDecided((decided) => {
    const watcher = watchers.get(decided.org_id);
    if (!watcher) return;
    setImmediate(async () => {
      const stored = await Promise.resolve(approvals.get(decided.org_id, decided.approval_id)).catch(() => null);
      if (stored && stored.status === decided.status)
        deliver(watcher, stored, stored.decided_at ?? now().toISOString());
    });
  });

  function watch(orgId: string): OrgWatcher {
    const watcher = watchers.get(orgId);
    if (watcher) return watcher;
    // From now on: the client loads the current list itself after subscribing.
    const newest = now().toISOString();
    const created: OrgWatcher = {
      listeners: new Set(),
      sent: new Map(),
      newest,
      timer: undefined as never,
      polling: false,
    };
    // What exists already is not news: mark the rows in the slack window as sent (before the first poll).
    const mark = (changes: ApprovalChange[]) => {
      for (const change of changes) created.sent.set(`${change.approval_id}:${change.status}`, change.changed_at);
    };
    const existing = approvals.changesSince(orgId, slackBefore(newest));
    if (existing instanceof Promise) {
      created.polling = true;
      existing.then(mark, () => {}).finally(() => (created.polling = false));
    } else mark(existing);
    created.timer = setInterval(() => void poll(orgId, created), pollIntervalMs);
    created.timer.unref();
    watchers.set(orgId, created);
    return created;
  }

  return {
    subscribe(orgId, listener, onClosed) {
      const watcher = watch(orgId);
      watcher.listeners.add(listener);
      if (onClosed) closers.add(onClosed);
      return () => {
        if (onClosed) closers.delete(onClosed);
        watcher.listeners.delete(listener);
        if (watcher.listeners.size === 0 && watchers.get(orgId) === watcher) {
          clearInterval(watcher.timer);
          watchers.delete(orgId);
        }
      };
    },
    close() {
      unsubscribeDecided();
      for (const watcher of watchers.values()) clearInterval(watcher.timer);
      watchers.clear();
      for (const onClosed of [...closers]) onClosed();
      closers.clear();
    },
  };
}

function slackBefore(iso: string): string {
  return new Date(Date.parse(iso) - CLOCK_SLACK_MS).toISOString();
}
