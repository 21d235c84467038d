// Gateway nodes sharing one Redis: which node holds a session's runtime link, whether that node is alive, and a
// per-node inbox through which another node hands it the IDE frames meant for that link.
//
// A session's runtime link (and with it the running turn, its pending tool calls and approvals) lives on one
// node; that node alone numbers the session's frames while it holds the link. When the IDE resumes on another
// node, that node follows the frames stream (./redis-session-store.ts) for the runtime → IDE direction and, for
// IDE → runtime, publishes each frame to the holder's inbox; the holder applies it as if its own IDE had sent
// it (./cross-node-inbound.ts) — the ack it emits reaches the IDE through the stream — and answers the sender
// with the connection notices (INVALID_CALL_ID …) the frame produced.
//
// Layout (P = key prefix; a session {id} is its key, ./session-key.ts):
//   P:ws:node:{node}   string  present while the node runs: refreshed every NODE_REFRESH_MS, lapses NODE_TTL_MS
//                      after a crash (deleted at once on a clean shutdown)
//   P:ws:approvals-live:{node}  the node's sign of life (./node-approvals.ts keeps it): lapses nodeGoneAfterMs
//                      (15 s by default) after the last; with the former, what `nodeShowsLifeKeys` names
//   P:ws:session:{id}  hash field `link`: the node holding the session's runtime link
//   P:ws:inbox:{node}  pub/sub channel: frames for the node's links and the answers to its own forwards
//   P:ws:attached      pub/sub channel: an IDE socket was accepted for a session on a node (one live socket per
//                      session: the other nodes close theirs with 4409), or an IDE ended its session with close
//                      1000 (`ended`: the other nodes end their copies, the link and approvals one may hold)
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { logger } from "../../core/log/logger";
import type { SessionOwner } from "./owner";
import { sessionKeys } from "./redis-session-store";

const log = logger.child({ module: "sessions", part: "cluster" });

/** A node's presence key is refreshed this often … */
export const NODE_REFRESH_MS = 1_000;
/**
 * … and lapses this long after its last refresh. Not a death on its own (a stall lets it lapse): a node is gone
 * once its sign of life lapsed too, nodeGoneAfterMs after the last (`nodeShowsLifeKeys`).
 */
export const NODE_TTL_MS = 3_000;
/** After a gap in this node's presence, how long it checks whether its sessions were taken over. */
const LAPSE_WATCH_MS = 10_000;
/** How often a waiting forward checks that the holder is still there. */
const REPLY_CHECK_MS = 250;
/** A live holder that has not answered by then: the frame is reported as not delivered (never acked). */
const REPLY_TIMEOUT_MS = 15_000;

/** The runtime-bound IDE frame another node hands to the holder of the session's link. */
export interface ForwardedFrame {
  sessionId: string;
  /** The principal of the IDE's token, as authenticated by the sending node. */
  principal: SessionOwner;
  /** The frame as validated by the sending node (validated again by the holder). */
  frame: Record<string, unknown>;
}

/** What the holder answers: whether it took the frame, and the connection notices it produced. */
export interface ForwardAnswer {
  accepted: boolean;
  /** Serialized frames without seq, for the sending node's IDE socket only. */
  notices: string[];
  /** Why it was not accepted (logged; the IDE hears AGENT_UNAVAILABLE). */
  reason?: string;
  /** The holder no longer has the session at all (it ended there): the sender may take the session over. */
  notHeld?: boolean;
}

export type ForwardOutcome =
  | { delivered: true; answer: ForwardAnswer }
  /** The holder is gone (never received it, or died before answering): the runtime link went with it. */
  | { delivered: false; holderGone: true }
  /** The holder is alive but did not answer in time (its subscriber reconnecting, or overloaded). */
  | { delivered: false; holderGone: false };

type InboxMessage =
  | { kind: "frame"; id: string; from: string; forwarded: ForwardedFrame }
  | { kind: "answer"; id: string; answer: ForwardAnswer };

/** Applies a frame another node forwarded; resolves with the answer to send back. */
export type ForwardedFrameHandler = (forwarded: ForwardedFrame) => Promise<ForwardAnswer>;

/** The node that holds a session's link (when it is not this one) and whether it is alive. */
export interface LinkHolder {
  node: string;
  alive: boolean;
}

/** Sets `link` only on a session that exists (never recreates an expired one's hash). */
const HOLD_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'link', ARGV[1]) return 1 end
return 0`;
/**
 * Moves `link` from ARGV[1] to ARGV[2]: 1 for the one caller that took it. With KEYS[2], KEYS[3] (ARGV[1]'s
 * `nodeShowsLifeKeys`): only if ARGV[1] is gone, read in the same step (-1: it shows life).
 */
const TAKE_SCRIPT = `
if #KEYS > 1 and redis.call('EXISTS', KEYS[2], KEYS[3]) > 0 then return -1 end
if redis.call('HGET', KEYS[1], 'link') == ARGV[1] then redis.call('HSET', KEYS[1], 'link', ARGV[2]) return 1 end
return 0`;
/** Clears `link` only if it still names ARGV[1]: 1 for the one caller that cleared it. */
const RELEASE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'link') == ARGV[1] then redis.call('HDEL', KEYS[1], 'link') return 1 end
return 0`;

export class SessionCluster {
  private readonly subscriber: Redis;
  private readonly waiting = new Map<string, (answer: ForwardAnswer) => void>();
  private readonly presence: NodeJS.Timeout;
  private handler: ForwardedFrameHandler | undefined;
  private lastAnnounced = Date.now();
  private suspectUntil = 0;
  private attachedElsewhere: ((sessionId: string, at: number) => void) | undefined;
  private endedElsewhere: ((sessionId: string) => void) | undefined;
  private readonly keys: ReturnType<typeof sessionKeys>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly nodeId: string = randomUUID(),
  ) {
    this.keys = sessionKeys(prefix);
    this.subscriber = redis.duplicate({ lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.subscriber.on("error", (err) => log.warn({ err: String(err) }, "session inbox connection error"));
    this.subscriber.on("message", (channel: string, message: string) => {
      if (channel === this.inbox(this.nodeId)) this.receive(message);
      else if (channel === this.attachedChannel()) this.heardAttached(message);
    });
    this.subscriber
      .subscribe(this.inbox(this.nodeId), this.attachedChannel())
      .catch((err) => log.warn({ err: String(err) }, "session inbox subscribe failed; retrying"));
    this.announce();
    this.presence = setInterval(() => this.announce(), NODE_REFRESH_MS);
    this.presence.unref();
  }

  /** Who applies the frames other nodes forward to this one (the gateway, once its parts exist). */
  onForwarded(handler: ForwardedFrameHandler): void {
    this.handler = handler;
  }

  /** Who closes this node's socket of a session whose IDE just attached on another node. */
  onAttachedElsewhere(handler: (sessionId: string, at: number) => void): void {
    this.attachedElsewhere = handler;
  }

  /** An IDE socket of the session was accepted here: any older one on another node is replaced. */
  attached(sessionId: string, at: number): void {
    this.redis
      .publish(this.attachedChannel(), JSON.stringify({ sessionId, node: this.nodeId, at }))
      .catch((err: unknown) => log.warn({ err: String(err), sessionId }, "cannot announce an attached IDE"));
  }

  /** Who ends this node's copy of a session whose IDE ended it (close 1000) on another node. */
  onEndedElsewhere(handler: (sessionId: string) => void): void {
    this.endedElsewhere = handler;
  }

  /** The IDE ended the session here (close 1000): the other nodes end their copies (a link, its approvals). */
  ended(sessionId: string): void {
    this.redis
      .publish(this.attachedChannel(), JSON.stringify({ sessionId, node: this.nodeId, ended: true }))
      .catch((err: unknown) => log.warn({ err: String(err), sessionId }, "cannot announce an ended session"));
  }

  private heardAttached(text: string): void {
    try {
      const message = JSON.parse(text) as { sessionId?: unknown; node?: unknown; at?: unknown; ended?: unknown };
      const { sessionId, node, at } = message;
      if (typeof sessionId !== "string" || node === this.nodeId) return;
      if (message.ended === true) this.endedElsewhere?.(sessionId);
      else if (typeof at === "number") this.attachedElsewhere?.(sessionId, at);
    } catch {
      // not ours
    }
  }

  private attachedChannel(): string {
    return `${this.prefix}:ws:attached`;
  }

  // ---------------------------------------------------------------- the link of a session

  /** This node now holds the session's runtime link: other nodes forward its IDE frames here. */
  holdLink(sessionId: string): void {
    this.redis
      .eval(HOLD_SCRIPT, 1, this.keys.session(sessionId), this.nodeId)
      .catch((err: unknown) => log.warn({ err: String(err), sessionId }, "cannot record the session's link holder"));
  }

  /** Clears the holder if it is still this node (its link dropped). */
  async releaseLink(sessionId: string): Promise<void> {
    try {
      await this.redis.eval(RELEASE_SCRIPT, 1, this.keys.session(sessionId), this.nodeId);
    } catch (err) {
      log.warn({ err: String(err), sessionId }, "cannot clear the session's link holder");
    }
  }

  /**
   * The holder `gone` was seen gone: if it still is — read in the same Redis step as the take, so a holder back
   * in between (showing life, then finding its session not taken: ./cross-node.ts stillHolding) keeps it — this
   * node becomes the session's holder (it numbers the frames from now on, and the gone node, should it come back,
   * can no longer write them). `taken` for the one caller that took it; `alive` when the holder shows life again.
   */
  async takeLink(sessionId: string, gone: string): Promise<"taken" | "alive" | "not-taken"> {
    const keys = [this.keys.session(sessionId), ...nodeShowsLifeKeys(this.prefix, gone)];
    const taken = await this.take(sessionId, keys, gone);
    return taken === 1 ? "taken" : taken === -1 ? "alive" : "not-taken";
  }

  /** The holder `from`, alive, answered that it no longer has the session: this node takes it (true if it did). */
  async takeDroppedLink(sessionId: string, from: string): Promise<boolean> {
    return (await this.take(sessionId, [this.keys.session(sessionId)], from)) === 1;
  }

  private async take(sessionId: string, keys: string[], from: string): Promise<number> {
    try {
      return Number(await this.redis.eval(TAKE_SCRIPT, keys.length, ...keys, from, this.nodeId));
    } catch (err) {
      log.warn({ err: String(err), sessionId }, "cannot take the session's link over");
      return 0;
    }
  }

  /**
   * The other node holding the session's link, if any (a Redis error counts as none: the node carries on alone),
   * and whether it is alive by the rule the approvals' sweep uses (`nodeShowsLifeKeys`): a holder that stalled
   * past its 3 s presence but not nodeGoneAfterMs is alive, its session not taken over.
   */
  async holderElsewhere(sessionId: string): Promise<LinkHolder | undefined> {
    try {
      const node = await this.redis.hget(this.keys.session(sessionId), "link");
      if (!node || node === this.nodeId) return undefined;
      return { node, alive: await this.alive(node) };
    } catch (err) {
      log.warn({ err: String(err), sessionId }, "cannot read the session's link holder");
      return undefined;
    }
  }

  /**
   * Of the sessions whose links this node holds, those another node has taken over meanwhile (this node was cut
   * off from Redis long enough to count as gone): their `link` names another node, or nobody, while they live on.
   */
  async takenOver(sessionIds: string[]): Promise<string[]> {
    if (sessionIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of sessionIds) pipeline.hmget(this.keys.session(id), "owner", "link");
    const results = (await pipeline.exec()) ?? [];
    return sessionIds.filter((_, i) => {
      const [err, reply] = results[i] ?? [new Error("no reply")];
      const [owner, link] = (reply ?? []) as (string | null)[];
      return !err && Boolean(owner) && link !== this.nodeId;
    });
  }

  // ---------------------------------------------------------------- forwarding

  /**
   * Publishes the frame to the holder's inbox and waits for its answer. Never hangs: a holder that is gone (no
   * subscriber, or its presence lapses while we wait) or silent for REPLY_TIMEOUT_MS ends the wait.
   */
  async forward(holder: string, forwarded: ForwardedFrame): Promise<ForwardOutcome> {
    const id = randomUUID();
    const answered = new Promise<ForwardAnswer>((resolve) => this.waiting.set(id, resolve));
    try {
      const message: InboxMessage = { kind: "frame", id, from: this.nodeId, forwarded };
      const receivers = await this.redis.publish(this.inbox(holder), JSON.stringify(message));
      if (receivers === 0) return { delivered: false, holderGone: !(await this.alive(holder)) };
      const deadline = Date.now() + REPLY_TIMEOUT_MS;
      for (;;) {
        const answer = await Promise.race([answered, sleep(REPLY_CHECK_MS)]);
        if (answer) return { delivered: true, answer };
        if (!(await this.alive(holder))) return { delivered: false, holderGone: true };
        if (Date.now() > deadline) return { delivered: false, holderGone: false };
      }
    } catch (err) {
      log.warn({ err: String(err), holder }, "forwarding an IDE frame failed");
      return { delivered: false, holderGone: false };
    } finally {
      this.waiting.delete(id);
    }
  }

  private receive(text: string): void {
    let message: InboxMessage;
    try {
      message = JSON.parse(text) as InboxMessage;
    } catch {
      return;
    }
    if (message.kind === "answer") {
      this.waiting.get(message.id)?.(message.answer);
      return;
    }
    if (message.kind !== "frame" || typeof message.from !== "string") return;
    const handle = this.handler ?? (async () => ({ accepted: false, notices: [], reason: "not ready" }));
    handle(message.forwarded)
      .catch((err: unknown): ForwardAnswer => {
        log.error({ err, sessionId: message.forwarded?.sessionId }, "applying a forwarded IDE frame failed");
        return { accepted: false, notices: [], reason: "internal error" };
      })
      .then((answer) => {
        const reply: InboxMessage = { kind: "answer", id: message.id, answer };
        return this.redis.publish(this.inbox(message.from), JSON.stringify(reply));
      })
      .catch((err: unknown) => log.warn({ err: String(err) }, "answering a forwarded IDE frame failed"));
  }

  // ---------------------------------------------------------------- presence

  private announce(): void {
    this.redis
      .set(this.nodeKey(this.nodeId), String(Date.now()), "PX", NODE_TTL_MS)
      .then(() => {
        // A gap this long between two refreshes (Redis away, or the event loop stalled): the presence may have
        // lapsed and other nodes may have taken sessions over; look for that a while (`mayHaveLapsed`).
        const now = Date.now();
        if (now - this.lastAnnounced > NODE_TTL_MS - NODE_REFRESH_MS) this.suspectUntil = now + LAPSE_WATCH_MS;
        this.lastAnnounced = now;
      })
      .catch((err: unknown) => log.debug({ err: String(err) }, "cannot refresh this node's presence"));
  }

  /** True for a while after this node's presence may have lapsed (then other nodes may have taken over). */
  mayHaveLapsed(): boolean {
    return Date.now() < this.suspectUntil;
  }

  /** Not gone: some sign of life within nodeGoneAfterMs (the same rule as ./node-approvals.ts's sweep). */
  private async alive(node: string): Promise<boolean> {
    return (await this.redis.exists(...nodeShowsLifeKeys(this.prefix, node))) > 0;
  }

  private inbox(node: string): string {
    return `${this.prefix}:ws:inbox:${node}`;
  }

  private nodeKey(node: string): string {
    return nodePresenceKey(this.prefix, node);
  }

  /** Clean shutdown: the node is gone at once for the others (their forwards fail fast, their IDEs are told). */
  async close(): Promise<void> {
    clearInterval(this.presence);
    for (const resolve of this.waiting.values())
      resolve({ accepted: false, notices: [], reason: "this node is shutting down" });
    await this.redis.del(this.nodeKey(this.nodeId)).catch(() => undefined);
    this.subscriber.disconnect();
  }
}

/** The key present while `node` runs (P:ws:node:{node}): absent, the node is gone. */
export function nodePresenceKey(prefix: string, node: string): string {
  return `${prefix}:ws:node:${node}`;
}

/** The key a node refreshes every upkeep tick with the TTL nodeGoneAfterMs (./node-approvals.ts keepAlive). */
export function nodeSignOfLifeKey(prefix: string, node: string): string {
  return `${prefix}:ws:approvals-live:${node}`;
}

/**
 * The one rule for "this node is gone", for the approvals' sweep and the sessions' take-over alike: none of these
 * keys exists. Its sign of life lapses nodeGoneAfterMs after the last, so a stall shorter than that (a GC pause, a
 * throttled CPU, a paused VM) is not a death although the 3 s presence lapsed; the presence key also counts, for
 * a node of a version that had only that one (or a node without the other yet).
 */
export function nodeShowsLifeKeys(prefix: string, node: string): [string, string] {
  return [nodeSignOfLifeKey(prefix, node), nodePresenceKey(prefix, node)];
}

function sleep(ms: number): Promise<undefined> {
  return new Promise((resolve) => setTimeout(() => resolve(undefined), ms).unref());
}
