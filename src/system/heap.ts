// How far V8 lets the heap grow before it collects. A large text an agent sends (a 950 KB prompt, its echo) is
// copied a few times on its way through the gateway (the frame text, the parsed value, the re-serialised frame for
// the runtime and for the replay buffer). Two V8 defaults let those dead copies pile up: the young generation
// grows to 2 × 16 MiB under load, and the large-object space (where every such copy lives) is only freed by a full
// collection, which by default comes once the old generation has grown up to four times its live size. Three
// sessions of such prompts made the gateway's RSS peak 148 MiB above its baseline while ~25 MiB was live.
// Bounded: the young generation keeps its initial size, and a full collection comes after `percent` growth.
// contract-tests/adversarial/memory.test.ts: peak +148 → +39 MiB. On `make bench`'s execute line (10,000 requests,
// 32 connections): CPU per request within the noise of a loaded 2-core box, the server's peak RSS 275 → 204 MiB. Both factors are read by V8 each time it resizes, so they can be set once the process runs.
//
// Set it after the process's worker threads started (src/server.ts: once the stores, and with them the WAL
// checkpoint worker, are open). The flags are process-wide, and V8 configures every new isolate — each Worker
// is one — by clamping --semi-space-growth-factor to at least 2 (Heap::ConfigureHeap), whatever the Worker's
// execArgv (measured: `execArgv: []` changes nothing): a worker started after this call lets the young
// generation grow to 32 MiB again (the memory test's peak: +81 MiB instead of +39).
import { setFlagsFromString } from "node:v8";

/** `percent` 0 leaves V8's own heuristics; otherwise the next full GC comes at (1 + percent/100)× the live size. */
export function boundHeapGrowth(percent: number): void {
  if (percent <= 0) return;
  setFlagsFromString(`--heap-growing-percent=${percent}`);
  setFlagsFromString("--semi-space-growth-factor=1");
}

// Allocation-site pretenuring: when most objects from one allocation site are still alive at a young-generation
// collection, V8 allocates that site's later objects straight in the old generation. Under load, the sites that
// build Node's own request and response objects (parserOnHeadersComplete, resOnFinish, the streams' state) were
// switched to old-space allocation (--trace-deopt: their code deoptimised for "code dependencies";
// --trace-pretenuring-statistics: found ratio 1.0 → tenure) — yet each of those objects dies within a millisecond
// of its request. Every request's objects then died in the old generation: GET /purutos (100 purutos, 59 KB)
// loaded by wrk promoted ~2.5 MB per scavenge (16 % of the young generation survived, a full GC every ~2.5 s), 5 KB
// per request, with scavenges of 5–16 ms. Without pretenuring: 0.1 % survive, scavenges take under 1 ms, and the
// same load (wrk, 64 connections from its first second; 3 alternated rounds against the previous commit) ran
// 11.6k → 16.0k req/s, server CPU 98 → 61 µs per request, event-loop delay p99 ~20 → 6–11 ms. Whether V8 tenures
// those sites depends on how load begins: after bench/ab.ts's gentle warm-up (8 connections) it did not, and both
// builds ran ~14.7k. Evaluate, execute and /health: within noise.
// Set at run time it takes effect: the numbers above are with this call at the start of startGatehouse.

/** Objects of short-lived requests stay in the young generation, where dying is free (see above). */
export function keepShortLivedObjectsYoung(): void {
  setFlagsFromString("--no-allocation-site-pretenuring");
}
