// The HTTP side of a WebSocket upgrade: where the token and the resume point come from, and how a refusal
// is written (a plain HTTP response with a problem+json body, before any 101). The bearer parser, the token
// error mapping and the problem renderer are the REST layer's (src/http/boundary): one behaviour for both doors.
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import {
  bearerChallenge,
  HttpProblem,
  parseBearer,
  rawProblemResponse,
  tokenProblem,
  type ProblemCode,
} from "../../http/boundary";

export const SUBPROTOCOL = "gatehouse.v1";
const BEARER_PROTOCOL = "bearer.";
const LAST_SEQ_PROTOCOL = "last-seq.";

/** A refused upgrade: a problem (the catalogue's code) rendered before any 101. */
export class UpgradeRefusal extends HttpProblem {
  constructor(status: number, code: ProblemCode, detail: string, headers: Record<string, string> = {}) {
    super(status, detail, { code, headers });
  }

  static from(problem: HttpProblem): UpgradeRefusal {
    return new UpgradeRefusal(problem.status, problem.code ?? "INTERNAL_ERROR", problem.detail, problem.extras.headers);
  }
}

/** What the token verifier threw, refused the same way REST refuses it (src/http/boundary/bearer.ts). */
export function tokenRefusal(err: unknown): UpgradeRefusal {
  return UpgradeRefusal.from(tokenProblem(err));
}

export function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headers["sec-websocket-protocol"];
  if (!raw) return [];
  return raw
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
}

/** The bearer token from `Authorization` or, for browsers, a `bearer.<jwt>` subprotocol. Never the query string. */
export function bearerToken(req: IncomingMessage): string {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const token = parseBearer(auth);
    if (!token) throw new UpgradeRefusal(401, "UNAUTHORIZED", "Authorization header must be 'Bearer <access_token>'");
    return token;
  }
  const protocols = offeredProtocols(req);
  const fromProtocol = protocols.find((p) => p.startsWith(BEARER_PROTOCOL));
  if (fromProtocol) {
    // We must echo a subprotocol, and it must never be the token itself.
    if (!protocols.includes(SUBPROTOCOL)) {
      throw new UpgradeRefusal(
        400,
        "INVALID_MESSAGE",
        `Offer the '${SUBPROTOCOL}' subprotocol next to the bearer token`,
      );
    }
    return fromProtocol.slice(BEARER_PROTOCOL.length);
  }
  throw new UpgradeRefusal(
    401,
    "UNAUTHORIZED",
    "Missing bearer token (Authorization header or bearer.<jwt> subprotocol)",
  );
}

/** The resume point from `X-Gatehouse-Last-Seq` or a `last-seq.<n>` subprotocol; undefined = fresh connect. */
export function requestedLastSeq(req: IncomingMessage): number | undefined {
  const header = req.headers["x-gatehouse-last-seq"];
  const fromProtocol = offeredProtocols(req).find((p) => p.startsWith(LAST_SEQ_PROTOCOL));
  const raw = typeof header === "string" ? header : fromProtocol?.slice(LAST_SEQ_PROTOCOL.length);
  if (raw === undefined) return undefined;
  if (!/^\d{1,15}$/.test(raw.trim()))
    throw new UpgradeRefusal(400, "INVALID_MESSAGE", "last seq must be a non-negative integer");
  return Number(raw.trim());
}

// The handshake checks `ws` makes in WebSocketServer.handleUpgrade (node_modules/ws/lib/websocket-server.js), with
// the same rules: its own refusals are text/html, and come only after authentication has used a rate-limit point
// and the session id was claimed. Made first, they are refused like every other upgrade and cost nothing.
/** Sec-WebSocket-Key: the base64 of 16 bytes. */
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;
/** Sec-WebSocket-Protocol: tokens (RFC 9110 tchar) separated by commas, blanks allowed around the commas only. */
// (\x27 is ' and \x60 is `, escaped so no reader takes them for the start of a string.)
const PROTOCOL_LIST = /^[!#$%&\x27*+\-.^_\x60|~0-9A-Za-z]+(?:[ \t]*,[ \t]*[!#$%&\x27*+\-.^_\x60|~0-9A-Za-z]+)*$/;
/** The versions ws speaks (13 is RFC 6455's; 8 an earlier draft ws still accepts). */
const WS_VERSIONS = [13, 8];

/** Why `ws` would refuse this handshake, as a refusal; undefined when it would accept it. */
export function handshakeRefusal(req: IncomingMessage): UpgradeRefusal | undefined {
  if (req.method !== "GET")
    return new UpgradeRefusal(405, "METHOD_NOT_ALLOWED", "A WebSocket upgrade is a GET request", { Allow: "GET" });
  if (req.headers.upgrade?.toLowerCase() !== "websocket")
    return new UpgradeRefusal(400, "INVALID_MESSAGE", "The Upgrade header must be 'websocket'");
  const key = req.headers["sec-websocket-key"];
  if (key === undefined || !WS_KEY.test(key))
    return new UpgradeRefusal(400, "INVALID_MESSAGE", "Sec-WebSocket-Key must be the base64 of 16 bytes");
  // Number(), as ws reads it (`+header`): " 13" or "013" are accepted there, so here too.
  if (!WS_VERSIONS.includes(Number(req.headers["sec-websocket-version"])))
    return new UpgradeRefusal(400, "INVALID_MESSAGE", "Sec-WebSocket-Version must be 13", {
      "Sec-WebSocket-Version": WS_VERSIONS.join(", "),
    });
  const protocols = req.headers["sec-websocket-protocol"];
  if (protocols !== undefined) {
    const names = protocols.split(/[ \t]*,[ \t]*/);
    if (!PROTOCOL_LIST.test(protocols) || new Set(names).size !== names.length)
      return new UpgradeRefusal(
        400,
        "INVALID_MESSAGE",
        "Sec-WebSocket-Protocol must be a comma-separated list of distinct subprotocol names",
      );
  }
  return undefined;
}

/** Answers the upgrade request with an HTTP error (RFC 9457 body) and closes the TCP socket. */
export function refuseUpgrade(socket: Duplex, refusal: HttpProblem, requestId?: string): void {
  if (socket.destroyed) return;
  const challenged =
    refusal.status === 401 && !refusal.extras.headers?.["WWW-Authenticate"]
      ? new HttpProblem(refusal.status, refusal.detail, {
          ...refusal.extras,
          headers: { ...bearerChallenge(refusal.code !== "UNAUTHORIZED"), ...refusal.extras.headers },
        })
      : refusal;
  socket.end(rawProblemResponse(challenged, requestId === undefined ? {} : { requestId }));
}
