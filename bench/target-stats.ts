// Inside a bench target: how the load window treated this process — event-loop delay (monitorEventLoopDelay)
// and garbage-collection pauses (PerformanceObserver on 'gc' entries), from start to stop only (not start-up,
// seeding or warm-up). A stall on the event loop delays every request in flight: it is what a p99 is made of.
// And how long the server itself held each request (its 'request' event to the response's 'finish'): beside the
// load generator's latency, it tells the time a request spent in the gateway from the time it waited outside it
// (in socket queues, or in a load generator that shares the machine's cores and was not scheduled).
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createHistogram, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from "node:perf_hooks";

export interface LoadStats {
  /** Event-loop delay in ms: how late a 1 ms timer fired (p50, p99, max). */
  loopP50: number;
  loopP99: number;
  loopMax: number;
  /** GC pauses during the window: how many, the longest and their sum, in ms. */
  gcCount: number;
  gcMaxMs: number;
  gcTotalMs: number;
  /** CPU time of this process during the window (user + system), ms: per request, the cost the load's other
   * processes on a shared machine cannot inflate the way they inflate wall-clock numbers. */
  cpuMs: number;
  /** In the server: from the request event to the response's finish, ms (p99, max). */
  serverP99: number;
  serverMax: number;
}

const RESOLUTION_MS = 1;

/** Starts measuring; the function it returns stops and reports. */
export function startLoadStats(server: Server): () => LoadStats {
  const held = createHistogram();
  const onRequest = (_req: IncomingMessage, res: ServerResponse) => {
    const started = process.hrtime.bigint();
    res.once("finish", () => held.record(Math.max(1, Number(process.hrtime.bigint() - started))));
  };
  server.on("request", onRequest);
  const loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  const gc = { count: 0, max: 0, total: 0 };
  const take = (entries: PerformanceEntry[]) => {
    for (const entry of entries) {
      gc.count++;
      gc.total += entry.duration;
      gc.max = Math.max(gc.max, entry.duration);
    }
  };
  const observer = new PerformanceObserver((list) => take(list.getEntries()));
  observer.observe({ entryTypes: ["gc"] });
  loop.enable();
  const cpu = process.cpuUsage();
  return () => {
    const used = process.cpuUsage(cpu);
    server.off("request", onRequest);
    loop.disable();
    take(observer.takeRecords());
    observer.disconnect();
    // The histogram holds the timer's whole interval (ns); the delay is what exceeds the resolution.
    const delay = (ns: number) => Math.max(0, ns / 1e6 - RESOLUTION_MS);
    return {
      loopP50: delay(loop.percentile(50)),
      loopP99: delay(loop.percentile(99)),
      loopMax: delay(loop.max),
      gcCount: gc.count,
      gcMaxMs: gc.max,
      gcTotalMs: gc.total,
      cpuMs: (used.user + used.system) / 1000,
      serverP99: held.count ? held.percentile(99) / 1e6 : Number.NaN,
      serverMax: held.count ? held.max / 1e6 : Number.NaN,
    };
  };
}
