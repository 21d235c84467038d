// How many puruto commands (run scripts, agents) run at once, and how many callers may wait for a slot.
// The wait used to be unbounded: 200 simultaneous calls against 16 slots queued 184 callers, each holding its HTTP
// connection and request until its turn came (minutes with slow commands), with nothing telling them the node was
// saturated. Now a caller that finds every slot taken and `maxWaiting` callers already waiting is refused at once
// (CommandsBusyError → 503 COMMANDS_BUSY with Retry-After): nothing runs, and it may retry.

/** Every slot is taken and the queue is full: the command was not run. */
export class CommandsBusyError extends Error {
  readonly code = "COMMANDS_BUSY";
  /** Seconds a caller should wait before retrying. */
  readonly retryAfterSeconds = 1;
  constructor(
    readonly running: number,
    readonly waiting: number,
  ) {
    super(`Too many puruto commands: ${running} running and ${waiting} waiting for a slot; retry shortly`);
    this.name = "CommandsBusyError";
  }
}

/** Caps how many tasks run at once and how many wait; a waiting caller that goes away leaves the queue. */
export class CommandSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(
    private readonly limit: number,
    private readonly maxWaiting: number,
  ) {}

  /** `task()` once a slot is free; `{kind: "aborted"}` when `signal` fires while waiting. Throws CommandsBusyError. */
  async use<T>(signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T | { kind: "aborted" }> {
    if (this.active >= this.limit) {
      if (this.waiting.length >= this.maxWaiting) throw new CommandsBusyError(this.active, this.waiting.length);
      if (!(await this.turn(signal))) return { kind: "aborted" };
    } else {
      this.active++;
    }
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next caller.
      if (next) next();
      else this.active--;
    }
  }

  /** Waits in line: true once a slot was handed over, false when the caller went away first. */
  private turn(signal: AbortSignal | undefined): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const wake = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(true);
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(wake);
        if (i >= 0) this.waiting.splice(i, 1);
        resolve(false);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(wake);
    });
  }
}
