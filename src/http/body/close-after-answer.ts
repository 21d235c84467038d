// A body read that stopped before the body's end leaves the rest of it on the connection: a keep-alive client
// would send its next request behind those bytes, Node's parser would read them as that request's start, and the
// client would get a reset instead of an answer. Such an answer closes the connection.
import type { Context } from "koa";

/** How long a closed connection may linger after its answer before it is destroyed. */
const LINGER_MS = 2_000;

/**
 * Answer, then close: a keep-alive connection would have to read (and discard) the rest of the body. The close
 * is a FIN after the answer, and the socket is destroyed only a moment later: destroying it at once, with the
 * client's unread bytes pending, sends a reset that can make the client lose the answer.
 */
export function closeAfterAnswer(ctx: Context): void {
  ctx.set("Connection", "close");
  ctx.res.once("finish", () => {
    const socket = ctx.req.socket;
    socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  });
}
