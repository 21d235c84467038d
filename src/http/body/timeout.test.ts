// The body deadline's sweep (one per app, not a timer per request): each read is cut at its own deadline, in the
// order reads started, and only a read still running is cut. Over real sockets: contract-tests/adversarial/slow-body.
import { EventEmitter } from "node:events";
import type { Context } from "koa";
import { describe, expect, it } from "vitest";
import { HttpProblem } from "../boundary";
import { bodyReaderWithin } from "./timeout";

const TIMEOUT_MS = 120;

/** The parts of a Koa context the reader touches: the request's `complete`, the response, a header setter. */
function fakeContext(complete = false) {
  const headers: Record<string, string> = {};
  const ctx = {
    req: { complete, socket: { end() {}, destroy() {} } },
    res: new EventEmitter(),
    set: (name: string, value: string) => {
      headers[name] = value;
    },
  };
  return { ctx: ctx as unknown as Context, headers };
}

/** A read that settles when told to. */
function controlledRead() {
  let finish!: () => void;
  let fail!: (err: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return { read: () => promise, finish, fail };
}

const settled = (promise: Promise<void>) =>
  promise.then(
    () => "resolved" as const,
    (err: unknown) => err,
  );
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("bodyReaderWithin", () => {
  it("cuts a read still running at its deadline with 408 REQUEST_TIMEOUT and closes the connection", async () => {
    const readWithin = bodyReaderWithin(TIMEOUT_MS);
    const { ctx, headers } = fakeContext();
    const started = performance.now();
    const outcome = await settled(readWithin(ctx, controlledRead().read));
    expect(performance.now() - started).toBeGreaterThanOrEqual(TIMEOUT_MS - 1);
    expect(outcome).toBeInstanceOf(HttpProblem);
    expect(outcome).toMatchObject({ status: 408, extras: { code: "REQUEST_TIMEOUT" } });
    expect(headers.Connection).toBe("close");
  });

  it("cuts each read at its own deadline: a later read outlives an earlier one, and a finished read is never cut", async () => {
    const readWithin = bodyReaderWithin(TIMEOUT_MS);
    const first = fakeContext();
    const earlier = settled(readWithin(first.ctx, controlledRead().read));
    await sleep(TIMEOUT_MS / 2);
    const later = controlledRead();
    const second = fakeContext();
    const laterOutcome = settled(readWithin(second.ctx, later.read));
    const quick = controlledRead();
    const quickOutcome = settled(readWithin(fakeContext().ctx, quick.read));
    quick.finish();

    expect(await earlier).toBeInstanceOf(HttpProblem);
    // The earlier deadline has passed; the later read has not reached its own and finishes in time.
    later.finish();
    expect(await laterOutcome).toBe("resolved");
    expect(second.headers.Connection).toBeUndefined();
    expect(await quickOutcome).toBe("resolved");
  });

  it("passes on the parser's own error (413, 400) unchanged", async () => {
    const readWithin = bodyReaderWithin(TIMEOUT_MS);
    const read = controlledRead();
    const outcome = settled(readWithin(fakeContext().ctx, read.read));
    const tooLarge = new HttpProblem(413, "too large");
    read.fail(tooLarge);
    expect(await outcome).toBe(tooLarge);
  });

  it("reads a body the parser already has whole without a deadline", async () => {
    const readWithin = bodyReaderWithin(1);
    const { ctx } = fakeContext(true);
    const read = controlledRead();
    const outcome = settled(readWithin(ctx, read.read));
    await sleep(30);
    read.finish();
    expect(await outcome).toBe("resolved");
  });
});
