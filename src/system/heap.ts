// How far V8 lets the heap grow before a full collection. A large text an agent sends (a 950 KB prompt, its echo)
// is copied a few times on its way through the gateway (the frame text, the parsed value, the re-serialised frame
// for the runtime and for the replay buffer), and V8 keeps every such copy in its large-object space, which only a
// full (mark-compact) collection frees. By default V8 lets the old generation reach up to four times its live
// size before that collection, so three sessions of such prompts left ~85 MiB of dead copies waiting and the
// gateway's RSS peaked 148 MiB above its baseline while only ~25 MiB was live. A bounded growth factor makes the
// full collection come after ~20% growth instead; the cost is more frequent (mostly concurrent) marking.
// V8 reads this factor each time it sets the next limit, so it can be set once the process runs.
import { setFlagsFromString } from "node:v8";

/** `percent` 0 leaves V8's own heuristics (1.1× to 4×); otherwise the next full GC comes at (1 + percent/100)×. */
export function boundHeapGrowth(percent: number): void {
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
