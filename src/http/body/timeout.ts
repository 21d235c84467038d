// A request body must arrive within a deadline. Without one, a client that sends its headers and then trickles
// a byte every few seconds holds a socket, a parser and its buffers for as long as Node's own request timeout
// (minutes) — a few hundred such clients exhaust a gateway without ever being rate limited (Slowloris on the
// body). Past the deadline the answer is 408 problem+json and the connection is closed, so the rest of the
// trickle is never read.
//
// The deadlines are kept by one sweep per app rather than a timer per request (issue #17): a request's handler
// starts when its headers are parsed, before Node's parser has read the body that came in the same packet, so
// every body read — the usual small one too — would otherwise create, insert and clear a Timeout.
import type { Context } from "koa";
import { problem } from "../boundary";
import { closeAfterAnswer } from "./close-after-answer";

/** The longest gap between two sweeps: a deadline is enforced at most this late (or a quarter of the timeout). */
const MAX_SWEEP_MS = 250;

/** A body read that has not finished yet, and what to do if its deadline passes first. */
interface PendingBody {
  due: number;
  expire(): void;
}

/** Reads bodies (the `read` function: the body parser) within `timeoutMs`, else throws 408 REQUEST_TIMEOUT. */
export type BodyReader = (ctx: Context, read: () => Promise<void>) => Promise<void>;

/**
 * A reader whose deadlines are all `timeoutMs` long, so they fall due in the order the reads started: a Set (which
 * iterates in insertion order) is a queue, and the sweep stops at the first read not yet due.
 */
export function bodyReaderWithin(timeoutMs: number): BodyReader {
  const pending = new Set<PendingBody>();
  const sweepEveryMs = Math.max(1, Math.min(MAX_SWEEP_MS, Math.floor(timeoutMs / 4)));
  let sweeper: NodeJS.Timeout | undefined;

  const sweep = () => {
    const now = performance.now();
    for (const body of pending) {
      if (body.due > now) break;
      pending.delete(body);
      body.expire();
    }
    // Idle: no interval left running (and unref'd: a pending read never keeps the process alive).
    if (pending.size === 0) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };

  return (ctx, read) => {
    // The whole body has already been parsed: nothing to wait for.
    if (ctx.req.complete) return read();
    const reading = read();
    return new Promise<void>((resolve, reject) => {
      const body: PendingBody = {
        due: performance.now() + timeoutMs,
        expire: () => {
          // The parser is still attached to the request: its eventual failure (socket closed) is nobody's error.
          reading.catch(() => {});
          closeAfterAnswer(ctx);
          reject(timedOut(timeoutMs));
        },
      };
      pending.add(body);
      sweeper ??= setInterval(sweep, sweepEveryMs).unref();
      reading.then(
        () => {
          pending.delete(body);
          resolve();
        },
        (err: unknown) => {
          pending.delete(body);
          reject(err);
        },
      );
    });
  };
}

function timedOut(timeoutMs: number) {
  return problem("REQUEST_TIMEOUT", `The request body did not arrive within ${timeoutMs} ms`, {
    headers: { Connection: "close" },
  });
}
