// A request body must arrive within a deadline. Without one, a client that sends its headers and then trickles
// a byte every few seconds holds a socket, a parser and its buffers for as long as Node's own request timeout
// (minutes) — a few hundred such clients exhaust a gateway without ever being rate limited (Slowloris on the
// body). Past the deadline the answer is 408 problem+json and the connection is closed, so the rest of the
// trickle is never read.
import type { Context } from "koa";
import { problem } from "../boundary";

/** How long a timed-out connection may linger after its answer before it is destroyed. */
const LINGER_MS = 2_000;

/** Runs `read` (the body parser), or throws 408 REQUEST_TIMEOUT when it has not finished within `timeoutMs`. */
export async function readBodyWithin(ctx: Context, timeoutMs: number, read: () => Promise<void>): Promise<void> {
  // The whole body has already arrived (the usual small body, in the packet of its headers): nothing to wait for,
  // so no timer and no race.
  if (ctx.req.complete) return read();
  let timer: NodeJS.Timeout | undefined;
  const reading = read();
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // The parser is still attached to the request: its eventual failure (socket closed) is nobody's error.
      reading.catch(() => {});
      // Answer, then close: a keep-alive connection would have to read (and discard) the rest of the trickle.
      // The close is a FIN after the answer, and the socket is destroyed only a moment later: destroying it at
      // once, with the client's unread bytes pending, sends a reset that can make the client lose the answer.
      ctx.set("Connection", "close");
      ctx.res.once("finish", () => {
        const socket = ctx.req.socket;
        socket.end();
        setTimeout(() => socket.destroy(), LINGER_MS).unref();
      });
      reject(
        problem("REQUEST_TIMEOUT", `The request body did not arrive within ${timeoutMs} ms`, {
          headers: { Connection: "close" },
        }),
      );
    }, timeoutMs);
  });
  try {
    await Promise.race([reading, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
