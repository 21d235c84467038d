// Retry-After of a refused command call says about when the queue will have room, from how long runs take.
import { describe, expect, it } from "vitest";
import { CommandSlots, CommandsBusyError } from "./command-slots";

/** A clock the test moves, and a task that holds its slot until released (advancing the clock by `ms` first). */
function harness(limit: number, maxWaiting: number) {
  let now = 0;
  const slots = new CommandSlots(limit, maxWaiting, () => now);
  const hold = (ms: number) => {
    let release!: () => void;
    const done = slots.use(undefined, () => new Promise<void>((ok) => (release = ok)));
    return {
      done,
      finish: async () => {
        now += ms;
        release();
        await done;
      },
    };
  };
  const refusal = async () => {
    const err = await slots
      .use(undefined, async () => undefined)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(CommandsBusyError);
    return err as CommandsBusyError;
  };
  return { hold, refusal };
}

describe("CommandSlots Retry-After", () => {
  it("is the time the callers ahead need, at the rate runs end", async () => {
    const { hold, refusal } = harness(2, 3);
    // Runs of 20 s were seen.
    await hold(20_000).finish();
    await hold(20_000).finish();
    for (let i = 0; i < 5; i++) hold(0); // 2 running, 3 waiting (never released: the test ends with them)
    // 3 waiting + this one, 2 slots, 20 s a run: about 40 s.
    expect((await refusal()).retryAfterSeconds).toBe(40);
  });

  it("stays within 1 s and 60 s", async () => {
    const short = harness(1, 1);
    await short.hold(5).finish();
    short.hold(0);
    short.hold(0);
    expect((await short.refusal()).retryAfterSeconds).toBe(1);

    const long = harness(1, 1);
    await long.hold(600_000).finish();
    long.hold(0);
    long.hold(0);
    expect((await long.refusal()).retryAfterSeconds).toBe(60);
  });
});
