// How many puruto commands (run scripts, agents) run at once, and how many callers may wait for a slot.
// The wait used to be unbounded: 200 simultaneous calls against 16 slots queued 184 callers, each holding its HTTP
// connection and request until its turn came (minutes with slow commands), with nothing telling them the node was
// saturated. Now a caller that finds every slot taken and `maxWaiting` callers already waiting is refused at once
// (CommandsBusyError → 503 COMMANDS_BUSY with Retry-After): nothing runs, and it may retry.

/** Every slot is taken and the queue is full: the command was not run. */
export class CommandsBusyError extends Error {
  readonly code = "COMMANDS_BUSY";
  constructor(
    readonly running: number,
    readonly waiting: number,
    /** Seconds a caller should wait before retrying: about when the queue will have room again. */
    readonly retryAfterSeconds: number,
  ) {
    super(`Too many puruto commands: ${running} running and ${waiting} waiting for a slot; retry shortly`);
    this.name = "CommandsBusyError";
  }
}

/** Bounds of Retry-After: a retry sooner than a second is a busy loop; a minute is as long as anyone waits. */
const MIN_RETRY_AFTER_SECONDS = 1;
const MAX_RETRY_AFTER_SECONDS = 60;
/** Weight of the newest run in the average run time (an exponential moving average). */
const NEWEST_RUN_WEIGHT = 0.2;

/** Caps how many tasks run at once and how many wait; a waiting caller that goes away leaves the queue. */
export class CommandSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  /** Average time a task held its slot, ms (0 until one finished). */
  private averageRunMs = 0;
  constructor(
    private readonly limit: number,
    private readonly maxWaiting: number,
    private readonly nowMs: () => number = () => performance.now(),
  ) {}

  /** `task()` once a slot is free; `{kind: "aborted"}` when `signal` fires while waiting. Throws CommandsBusyError. */
  async use<T>(signal: AbortSignal | undefined, task: () => Promise<T>): Promise<T | { kind: "aborted" }> {
    if (this.active >= this.limit) {
      if (this.waiting.length >= this.maxWaiting) {
        throw new CommandsBusyError(this.active, this.waiting.length, this.retryAfterSeconds());
      }
      if (!(await this.turn(signal))) return { kind: "aborted" };
    } else {
      this.active++;
    }
    const started = this.nowMs();
    try {
      return await task();
    } finally {
      this.recordRun(this.nowMs() - started);
      const next = this.waiting.shift();
      // The slot passes straight to the next caller.
      if (next) next();
      else this.active--;
    }
  }

  private recordRun(ms: number): void {
    this.averageRunMs = this.averageRunMs === 0 ? ms : this.averageRunMs + NEWEST_RUN_WEIGHT * (ms - this.averageRunMs);
  }

  /**
   * About when one more caller could wait in line: every caller waiting now needs a slot first, and the slots free
   * at the rate runs end. A constant 1 s sent clients of minute-long commands back sixty times a minute.
   */
  private retryAfterSeconds(): number {
    const seconds = Math.ceil((((this.waiting.length + 1) / this.limit) * this.averageRunMs) / 1000);
    return Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(MIN_RETRY_AFTER_SECONDS, seconds));
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
