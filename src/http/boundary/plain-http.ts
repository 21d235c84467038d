// A request that offers an `Upgrade` the gateway does not take is still an HTTP/1.1 request, and a server may ignore
// the offer (RFC 9110 §7.8). Node 20 hands every request carrying `Upgrade` to the server's `upgrade` listeners,
// parser detached: `curl --http2` (`Upgrade: h2c`) and Java's HttpClient, on every http:// URL, got the WebSocket
// door's 404 on every REST and MCP route, and nothing ran. Such a request is given back to the HTTP server: its head
// is written again without the offer (`Upgrade`, `HTTP2-Settings` and their `Connection` tokens), put back in front
// of what the socket still holds (the body, pipelined requests), and the socket is handed to the server as a new
// connection, whose parser reads it as a plain request, body and keep-alive included. When the request was pipelined
// behind one whose response is still being written, the socket is handed over once that response finished: a new
// connection's response queues behind the socket's current one and would never hear it finish (never be sent).
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";

/** The headers an upgrade offer consists of; dropped, with their `Connection` tokens, when it is declined. */
const OFFER_HEADERS = new Set(["upgrade", "http2-settings"]);

/** Serves `req` (an upgrade the gateway declines) as the plain HTTP request it also is, on the same socket. */
export function serveAsPlainHttp(server: Server, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  // Node decoded the head's bytes as latin1: written back the same way, every byte is the one sent.
  socket.unshift(Buffer.concat([Buffer.from(headWithoutOffer(req), "latin1"), head]));
  const pending = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!pending) return handOver(server, socket);
  const closed = () => pending.off("finish", finished);
  const finished = () => {
    socket.off("close", closed);
    // The earlier request asked to close (its response was the last): the socket is ending, nothing more is read.
    if (socket.writableEnded || socket.destroyed) return;
    handOver(server, socket);
  };
  pending.once("finish", finished);
  socket.once("close", closed);
}

/** Hands `socket` to `server` as a new connection, with no timer left by the connection it was. */
function handOver(server: Server, socket: Duplex): void {
  // The keep-alive timeout set once the earlier response finished would cut the request now read short.
  (socket as Duplex & { setTimeout?: (ms: number) => unknown }).setTimeout?.(0);
  server.emit("connection", socket);
}

/** The request line and headers of `req` as sent, without the upgrade offer. */
function headWithoutOffer(req: IncomingMessage): string {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (OFFER_HEADERS.has(lower)) continue;
    if (lower === "connection") {
      const kept = value
        .split(",")
        .map((token) => token.trim())
        .filter((token) => token !== "" && !OFFER_HEADERS.has(token.toLowerCase()));
      if (kept.length > 0) head += `${name}: ${kept.join(", ")}\r\n`;
      continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}
