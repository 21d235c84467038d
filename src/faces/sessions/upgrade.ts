// The HTTP side of a WebSocket upgrade: where the token and the resume point come from, and how a refusal
// is written (a plain HTTP response with a problem+json body, before any 101).
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

export const SUBPROTOCOL = "gatehouse.v1";
const BEARER_PROTOCOL = "bearer.";
const LAST_SEQ_PROTOCOL = "last-seq.";

export class UpgradeRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    detail: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(detail);
  }
}

export function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headers["sec-websocket-protocol"];
  if (!raw) return [];
  return raw.split(",").map((p) => p.trim()).filter(Boolean);
}

/** The bearer token from `Authorization` or, for browsers, a `bearer.<jwt>` subprotocol. Never the query string. */
export function bearerToken(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    if (!m) throw new UpgradeRefusal(401, "UNAUTHORIZED", "Authorization header must be 'Bearer <access_token>'");
    return m[1];
  }
  const protocols = offeredProtocols(req);
  const fromProtocol = protocols.find((p) => p.startsWith(BEARER_PROTOCOL));
  if (fromProtocol) {
    // We must echo a subprotocol, and it must never be the token itself.
    if (!protocols.includes(SUBPROTOCOL)) {
      throw new UpgradeRefusal(400, "INVALID_MESSAGE", `Offer the '${SUBPROTOCOL}' subprotocol next to the bearer token`);
    }
    return fromProtocol.slice(BEARER_PROTOCOL.length);
  }
  throw new UpgradeRefusal(401, "UNAUTHORIZED", "Missing bearer token (Authorization header or bearer.<jwt> subprotocol)");
}

/** The resume point from `X-Gatehouse-Last-Seq` or a `last-seq.<n>` subprotocol; undefined = fresh connect. */
export function requestedLastSeq(req: IncomingMessage): number | undefined {
  const header = req.headers["x-gatehouse-last-seq"];
  const fromProtocol = offeredProtocols(req).find((p) => p.startsWith(LAST_SEQ_PROTOCOL));
  const raw = typeof header === "string" ? header : fromProtocol?.slice(LAST_SEQ_PROTOCOL.length);
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw.trim())) throw new UpgradeRefusal(400, "INVALID_MESSAGE", "last seq must be a non-negative integer");
  return Number(raw.trim());
}

const REASONS: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** Answers the upgrade request with an HTTP error (RFC 9457 body) and closes the TCP socket. */
export function refuseUpgrade(socket: Duplex, refusal: UpgradeRefusal): void {
  if (socket.destroyed) return;
  const title = REASONS[refusal.status] ?? "Error";
  const body = JSON.stringify({
    type: "about:blank",
    title,
    status: refusal.status,
    detail: refusal.message,
    code: refusal.code,
  });
  const headers: Record<string, string | number> = {
    "Content-Type": "application/problem+json",
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
    ...refusal.headers,
  };
  if (refusal.status === 401) {
    // RFC 6750: no error attribute when no credentials were presented at all.
    headers["WWW-Authenticate"] =
      refusal.code === "UNAUTHORIZED" ? `Bearer realm="gatehouse"` : `Bearer realm="gatehouse", error="invalid_token"`;
  }
  const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join("\r\n");
  socket.end(`HTTP/1.1 ${refusal.status} ${title}\r\n${head}\r\n\r\n${body}`);
}
