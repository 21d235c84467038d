// Everything before the 101: the path names a session, the client is within its rate limit, its token is
// valid and it owns the session. A refusal is a plain HTTP answer (./upgrade.ts); nothing reaches a socket.
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import type { WebSocket, WebSocketServer } from "ws";
import { UserTokenError, type UserClaims } from "../../core/identity/user-tokens";
import { logger } from "../../core/log/logger";
import type { UpgradeContext } from "./ide-connection";
import { sessionMetrics as metrics } from "./metrics";
import { isOwner, ownerOf, principalKey } from "./owner";
import { sessionKey } from "./session-key";
import { consumePoint } from "./rate-limits";
import type { LiveSessionCap, LiveSlot } from "./live-session-cap";
import type { MessageValidators } from "./schemas";
import type { SessionRegistry } from "./session-state";
import { UpgradeRefusal, bearerToken, handshakeRefusal, refuseUpgrade, requestedLastSeq } from "./upgrade";
import { type HttpProblem, serveAsPlainHttp } from "../../http/boundary";

const log = logger.child({ module: "sessions" });

const SESSION_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const WS_PATH = /^\/ws\/([^/]+)$/;

export interface UpgradeHandlerDeps {
  server: Server;
  wss: WebSocketServer;
  registry: SessionRegistry;
  verifyUserToken: (token: string) => Promise<UserClaims>;
  /** Authenticated attempts, per client IP and principal. */
  ipLimiter: RateLimiterAbstract;
  /** Attempts that fail authentication, per client IP (./rate-limits.ts). */
  anonymousLimiter: RateLimiterAbstract;
  validators: Promise<MessageValidators>;
  /** Live sockets per principal, counted on every node together (./live-session-cap.ts). */
  liveSessions: LiveSessionCap;
  maxSessionsPerUser: number;
  onConnection: (ws: WebSocket, ctx: UpgradeContext) => void;
  /** Refuses an upgrade sent to a name, or from a site, the gateway does not answer for (DNS rebinding). */
  admit?: ((req: IncomingMessage) => HttpProblem | undefined) | undefined;
}

/**
 * The session id segment of a WebSocket upgrade to /ws/{session_id}, or undefined when the request is not one: its
 * `Upgrade` does not offer `websocket` (`h2c`…), or its path is another. Such a request is served as plain HTTP.
 */
export function sessionUpgradeSegment(req: IncomingMessage): string | undefined {
  const offers = (req.headers.upgrade ?? "").split(",").some((offer) => /^\s*websocket\s*(?:\/|$)/i.test(offer));
  return offers ? WS_PATH.exec(new URL(req.url ?? "/", "http://gatehouse").pathname)?.[1] : undefined;
}

/** The server's `upgrade` listener for /ws/{session_id}. */
export function createUpgradeHandler(deps: UpgradeHandlerDeps) {
  return (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const segment = sessionUpgradeSegment(req);
    if (segment === undefined) {
      // Not a WebSocket upgrade to /ws/: the plain HTTP request it also is (RFC 9110 §7.8: an offer such as
      // `Upgrade: h2c` may be ignored), unless another face listens for upgrades and may own it.
      if (deps.server.listenerCount("upgrade") <= 1) serveAsPlainHttp(deps.server, req, socket, head);
      return;
    }
    socket.on("error", (err) => log.debug({ err }, "upgrade socket error"));
    // First of all: a browser's upgrade (it always sends Origin) from a rebound page must not use a rate-limit
    // point or learn whether a token works.
    const misdirected = deps.admit?.(req);
    if (misdirected) {
      metrics.upgrades.inc({ result: String(misdirected.status) });
      refuseUpgrade(socket, UpgradeRefusal.from(misdirected));
      return;
    }
    // Before authentication: a handshake ws would refuse uses no rate-limit point and claims no session id.
    const malformed = handshakeRefusal(req);
    if (malformed) {
      metrics.upgrades.inc({ result: String(malformed.status) });
      refuseUpgrade(socket, malformed);
      return;
    }
    authorizeUpgrade(deps, req, segment).then(
      ({ ctx, slot }) => {
        if (socket.destroyed) return slot.release();
        // Claimed synchronously right before the 101: two users racing for a new id cannot both get it.
        const session = deps.registry.claim(ctx.sessionId, ctx.claims);
        if (!session) {
          slot.release();
          metrics.upgrades.inc({ result: "403" });
          refuseUpgrade(socket, new UpgradeRefusal(403, "FORBIDDEN", "This session belongs to another user"));
          return;
        }
        let attached = false;
        deps.wss.handleUpgrade(req, socket, head, (ws) => {
          attached = true;
          // The slot is the socket's: however it ends (closed, dropped, terminated by the heartbeat), it is freed.
          ws.once("close", () => slot.release());
          deps.onConnection(ws, ctx);
        });
        if (attached) return void metrics.upgrades.inc({ result: "accepted" });
        slot.release();
        // ws did not complete the handshake and will not call back. handshakeRefusal() already refused what ws
        // finds malformed, so the client went away meanwhile or the server is closing (ws answers 503 itself).
        // The session expires as when its IDE leaves, instead of being held for ever without a socket (harmless if
        // a socket is attached: expiry skips a session that has one).
        metrics.upgrades.inc({ result: "aborted" });
        deps.registry.scheduleExpiry(session);
      },
      (err: unknown) => {
        const refusal =
          err instanceof UpgradeRefusal
            ? err
            : new UpgradeRefusal(500, "INTERNAL_ERROR", "Internal error during upgrade");
        if (!(err instanceof UpgradeRefusal)) log.error({ err }, "upgrade failed");
        metrics.upgrades.inc({ result: String(refusal.status) });
        refuseUpgrade(socket, refusal);
      },
    );
  };
}

async function authorizeUpgrade(
  deps: UpgradeHandlerDeps,
  req: IncomingMessage,
  rawId: string,
): Promise<{ ctx: UpgradeContext; slot: LiveSlot }> {
  if (deps.registry.shuttingDown) {
    throw new UpgradeRefusal(503, "SHUTTING_DOWN", "Gatehouse is restarting; reconnect and resume", {
      "Retry-After": "5",
    });
  }
  const clientId = validSessionId(rawId);
  const address = req.socket.remoteAddress ?? "unknown";
  let claims: UserClaims;
  try {
    claims = await deps.verifyUserToken(bearerToken(req));
  } catch (err) {
    const refusal = authRefusal(err);
    // Only failed attempts count against the address: they cannot use up a valid user's budget.
    if (refusal.status === 401) await limitAttempt(deps.anonymousLimiter, address);
    throw refusal;
  }
  await limitAttempt(deps.ipLimiter, `${address}\u0000${principalKey(claims)}`);
  // Sessions are per user: the caller's `my-session` is theirs alone, never someone else's (./session-key.ts).
  const sessionId = sessionKey(ownerOf(claims), clientId);
  const lastSeq = requestedLastSeq(req);
  await deps.validators;
  const owner = await deps.registry.ownerOf(sessionId, claims);
  // A resume of a session that is not the caller's gets one answer, decided here on one path. The key is the
  // caller's own, so this is an unknown or expired id of theirs; another owner here (a tag collision, or a
  // record from before sessions were per user) is answered the same way.
  if (lastSeq !== undefined && lastSeq > 0 && !deps.registry.mayResume(sessionId, owner, claims)) {
    throw new UpgradeRefusal(404, "SESSION_NOT_FOUND", "Session not found");
  }
  // A guard only: a key is derived from its owner, so another owner here means a tag collision.
  if (owner !== undefined && !isOwner(owner, claims)) {
    metrics.authFailures.inc({ reason: "session_owner_mismatch" });
    throw new UpgradeRefusal(403, "FORBIDDEN", "This session belongs to another user");
  }
  const slot = await deps.liveSessions.acquire(principalKey(claims), sessionId);
  if (!slot) {
    throw new UpgradeRefusal(
      429,
      "TOO_MANY_SESSIONS",
      `This user already has ${deps.maxSessionsPerUser} live sessions; close one before opening another`,
    );
  }
  return { ctx: { sessionId, claims, lastSeq }, slot };
}

async function limitAttempt(limiter: RateLimiterAbstract, key: string): Promise<void> {
  const retryAfter = await consumePoint(limiter, key);
  if (retryAfter !== undefined) {
    throw new UpgradeRefusal(429, "RATE_LIMIT_EXCEEDED", "Too many requests. Please slow down.", {
      "Retry-After": String(retryAfter),
    });
  }
}

function validSessionId(rawId: string): string {
  let sessionId: string;
  try {
    sessionId = decodeURIComponent(rawId);
  } catch {
    throw new UpgradeRefusal(400, "INVALID_MESSAGE", "Malformed session id");
  }
  if (!SESSION_ID.test(sessionId)) {
    throw new UpgradeRefusal(400, "INVALID_MESSAGE", "session_id must be 1-128 characters of [A-Za-z0-9._:-]");
  }
  return sessionId;
}

function authRefusal(err: unknown): UpgradeRefusal {
  if (err instanceof UpgradeRefusal) {
    metrics.authFailures.inc({ reason: "missing_token" });
    return err;
  }
  if (err instanceof UserTokenError) {
    metrics.authFailures.inc({ reason: err.reason });
    if (err.reason === "jwks_unavailable") {
      return new UpgradeRefusal(503, "UNAUTHORIZED", "Cannot verify tokens right now (identity provider unreachable)", {
        "Retry-After": "30",
      });
    }
    return new UpgradeRefusal(401, err.code, err.code === "TOKEN_EXPIRED" ? "JWT token has expired" : err.message);
  }
  metrics.authFailures.inc({ reason: "verifier_error" });
  log.error({ err }, "token verifier failed");
  return new UpgradeRefusal(401, "TOKEN_INVALID", "Invalid JWT token");
}
