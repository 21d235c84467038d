// Approval notifications: hears approval.created / decided / expired on the event bus (never polls the
// approvals), records one delivery per interested subscription, and POSTs it signed, retrying with bounded
// exponential backoff. Every try is written to the delivery log an operator reads through the API.
//
// Several gateway nodes hear the same event (Redis bus): the delivery's unique (subscription, event) key makes
// exactly one of them record it, and `claim` makes exactly one send each try. Pub/sub is at-most-once: an event
// lost on the bus is a notification not sent (the approval itself is safe in the store; the console shows it).
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Approval } from "../approvals";
import type { ApprovalsService } from "../ports";
import { send } from "../connectors/http";
import { DestinationRefused, guardedLookup, systemLookup, type Lookup } from "../connectors/network-guard";
import type { EventBus, GatehouseEvent } from "../events";
import { logger } from "../log/logger";
import { consoleLink, renderBody, type EventContext, type WebhookEventType, type WebhookFormat } from "./payloads";
import { SIGNATURE_HEADER, signatureHeader } from "./signature";
import { checkTarget, type TargetPolicy } from "./target-guard";
import type { WebhookAttempt, WebhookDelivery, WebhookStore } from "./webhook-store";

const log = logger.child({ module: "webhooks" });

export interface RetryPolicy {
  /** Tries in all, the first included. */
  maxAttempts: number;
  /** Delay before the second try; doubled for each following one. */
  baseDelayMs: number;
  /** No delay is longer than this. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 5000, maxDelayMs: 60 * 60 * 1000 };

export interface WebhookNotifierOptions {
  store: WebhookStore;
  /** Read when an event arrives (events are hints), and swept for expiries. Either backend. */
  approvals: Pick<ApprovalsService, "get" | "expireOverdue">;
  events: EventBus;
  /** The approval as the operator API shows it (the HTTP layer's wire model, its tool's redaction applied). */
  render: (approval: Approval) => unknown | Promise<unknown>;
  /** This gateway's public base URL, for the console links (read when an event is sent). */
  publicUrl: () => string;
  target: TargetPolicy;
  retry?: RetryPolicy;
  /** One try's time limit (default 10 s). */
  timeoutMs?: number;
  /** How often pending tries left by a restart or another node are looked for (default 30 s). */
  sweepIntervalMs?: number;
  lookup?: Lookup;
  now?: () => Date;
}

export interface WebhookNotifier {
  /** Resolves when every try started so far has been recorded (tests, shutdown). */
  idle(): Promise<void>;
  close(): void;
}

/** Delay before try `attempt + 1`, after `attempt` tries failed: base · 2^(attempt−1), capped. */
export function backoffMs(retry: RetryPolicy, attempt: number): number {
  return Math.min(retry.baseDelayMs * 2 ** Math.max(attempt - 1, 0), retry.maxDelayMs);
}

const USER_AGENT = "Gatehouse-Webhooks/1";

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(invalid URL)";
  }
}

/** A pending delivery of one event to one subscription, its body rendered in the subscription's format. */
function newDelivery(
  webhook: { webhook_id: string; url: string; format: WebhookFormat },
  org_id: string,
  event: EventContext,
): WebhookDelivery {
  return {
    delivery_id: `whd-${randomUUID()}`,
    org_id,
    webhook_id: webhook.webhook_id,
    event_id: event.event_id,
    event: event.type,
    approval_id: event.approval.approval_id,
    url: webhook.url,
    body: renderBody(webhook.format, event),
    status: "pending",
    attempts: [],
    attempt_count: 0,
    next_attempt_at: event.created_at,
    created_at: event.created_at,
    delivered_at: null,
  };
}

/** What one try needs besides the delivery. */
interface PostDeps {
  store: WebhookStore;
  target: TargetPolicy;
  timeoutMs: number;
  lookup: Lookup;
  now: () => Date;
}

interface PostResult {
  ok: boolean;
  status?: number;
  error?: string;
  /** Waiting will not help (a refused target, a removed subscription): no further try. */
  final?: boolean;
}

/** One signed POST of a delivery to its receiver, through the network guard. */
async function postDelivery(delivery: WebhookDelivery, deps: PostDeps): Promise<PostResult> {
  const { store, timeoutMs, lookup, now } = deps;
  const webhook = await store.signing(delivery.org_id, delivery.webhook_id);
  if (!webhook) return { ok: false, error: "the subscription was removed", final: true };
  const target = checkTarget(delivery.url, deps.target);
  if (!target.ok) return { ok: false, error: target.message, final: true };
  const body = delivery.body;
  let response: IncomingMessage | undefined;
  try {
    response = await send(target.url, {
      method: "POST",
      body,
      headers: {
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        "user-agent": USER_AGENT,
        "gatehouse-event": delivery.event,
        "gatehouse-delivery": delivery.delivery_id,
        [SIGNATURE_HEADER.toLowerCase()]: signatureHeader(webhook.secret, body, now()),
      },
      signal: AbortSignal.timeout(timeoutMs),
      lookup: guardedLookup({ lookup, allowPrivate: target.allowPrivate }),
    });
    const status = response.statusCode ?? 0;
    if (status >= 200 && status < 300) return { ok: true, status };
    return { ok: false, status, error: `the receiver answered HTTP ${status}` };
  } catch (err) {
    if (err instanceof DestinationRefused)
      return { ok: false, error: err.message, final: err.code === "ADDRESS_BLOCKED" };
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).name;
    return { ok: false, error: `cannot reach ${target.url.host}: ${code}` };
  } finally {
    // The answer's body is not needed: drop it so the socket closes.
    response?.resume();
  }
}

export function createWebhookNotifier(options: WebhookNotifierOptions): WebhookNotifier {
  const { store, approvals } = options;
  const retry = options.retry ?? DEFAULT_RETRY;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const now = options.now ?? (() => new Date());
  const lookup = options.lookup ?? systemLookup;
  const inFlight = new Set<Promise<void>>();
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;

  const track = (work: Promise<void>) => {
    const tracked = work.catch((err) => log.error({ err: String(err) }, "webhook delivery failed unexpectedly"));
    inFlight.add(tracked);
    tracked.finally(() => inFlight.delete(tracked));
  };

  function onEvent(event: Extract<GatehouseEvent, { type: WebhookEventType }>): void {
    if (!closed) track(record(event));
  }

  /** One delivery per interested subscription, each sent by the node whose insert won. */
  async function record(event: Extract<GatehouseEvent, { type: WebhookEventType }>): Promise<void> {
    const subscriptions = await store.subscribedTo(event.org_id, event.type);
    if (subscriptions.length === 0) return;
    // Events are hints: the approval is re-read from the store (the event may come from another node).
    const approval = await approvals.get(event.org_id, event.approval_id);
    if (!approval) return;
    const created_at = now().toISOString();
    const event_id = `${event.type}:${approval.approval_id}`;
    const consoleUrl = consoleLink(options.publicUrl(), approval.approval_id);
    const wireApproval = await options.render(approval);
    for (const webhook of subscriptions) {
      const delivery = newDelivery(webhook, event.org_id, {
        event_id,
        type: event.type,
        created_at,
        approval,
        wireApproval,
        consoleUrl,
      });
      if (await store.insertDelivery(delivery)) track(attempt(delivery.delivery_id, 0));
    }
  }

  async function attempt(delivery_id: string, expectedCount: number, dueBy?: string): Promise<void> {
    const lease = new Date(now().getTime() + timeoutMs + 5000).toISOString();
    if (closed || !(await store.claim(delivery_id, expectedCount, lease, dueBy))) return;
    const delivery = await store.get(delivery_id);
    if (!delivery) return;
    const number = expectedCount + 1;
    const started = now();
    const result = await postDelivery(delivery, { store, target: options.target, timeoutMs, lookup, now });
    const tried: WebhookAttempt = {
      attempt: number,
      at: started.toISOString(),
      ...(result.status !== undefined ? { status_code: result.status } : {}),
      ...(result.error !== undefined ? { error: result.error } : {}),
      duration_ms: Math.max(0, now().getTime() - started.getTime()),
    };
    if (result.ok) {
      await store.recordAttempt(delivery_id, tried, {
        status: "delivered",
        next_attempt_at: null,
        delivered_at: now().toISOString(),
      });
      return;
    }
    // A refused target or a removed subscription will not get better by waiting.
    if (number >= retry.maxAttempts || result.final) {
      await store.recordAttempt(delivery_id, tried, { status: "failed", next_attempt_at: null, delivered_at: null });
      // The host only: a Slack incoming-webhook URL is itself a credential.
      log.warn(
        { delivery_id, host: hostOf(delivery.url), attempts: number, error: tried.error },
        "webhook delivery failed",
      );
      return;
    }
    const delay = backoffMs(retry, number);
    const next = new Date(now().getTime() + delay).toISOString();
    await store.recordAttempt(delivery_id, tried, { status: "pending", next_attempt_at: next, delivered_at: null });
    schedule(delivery_id, number, delay, next);
  }

  function schedule(delivery_id: string, count: number, delayMs: number, dueBy: string): void {
    if (closed) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      track(attempt(delivery_id, count, dueBy));
    }, delayMs);
    timer.unref();
    timers.add(timer);
  }

  /** Tries that are due but no timer here holds: left by a restart, or by a node that went away mid-try. */
  async function sweep(): Promise<void> {
    if (closed) return;
    // Expiry is otherwise noticed only when someone reads the approval; an `approval.expired` notification must
    // not wait for that. The store publishes the expiries it finds, which this notifier hears like any event.
    try {
      await approvals.expireOverdue();
    } catch (err) {
      log.warn({ err: String(err) }, "approval expiry sweep failed");
    }
    let due: Awaited<ReturnType<WebhookStore["due"]>> = [];
    try {
      due = await store.due(now().toISOString());
    } catch (err) {
      // The store is unreachable (PostgreSQL down): the next sweep finds these tries again.
      log.warn({ err: String(err) }, "webhook sweep could not read due deliveries");
    }
    for (const delivery of due) track(attempt(delivery.delivery_id, delivery.attempt_count));
  }

  const unsubscribe = [
    options.events.subscribe("approval.created", onEvent),
    options.events.subscribe("approval.decided", onEvent),
    options.events.subscribe("approval.expired", onEvent),
  ];
  // A sweep that fails (the database is down) is logged, and the next one tries again.
  const sweepTracked = () => track(sweep());
  const sweeper = setInterval(sweepTracked, options.sweepIntervalMs ?? 30_000);
  sweeper.unref();
  setImmediate(sweepTracked);

  return {
    async idle() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    close() {
      closed = true;
      for (const stop of unsubscribe) stop();
      clearInterval(sweeper);
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  };
}
