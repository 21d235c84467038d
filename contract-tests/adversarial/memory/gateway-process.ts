// The gateway of the memory test, alone in its process (run with --expose-gc), so that its RSS is what is
// measured: the IDEs are in the test's process and the agent runtime in another child. It answers on IPC:
//   → {url, token}              once listening
//   ← "measure" → {rss, peak, atPeak, youngMiB}   RSS after two full GCs, the highest RSS sampled (every 20 ms,
//                                        no forced GC) since the last measure, what V8 held at that peak (MiB), and
//                                        the young generation's size after the GCs (MiB)
import { resolve } from "node:path";
import { getHeapSpaceStatistics } from "node:v8";
import { ORG_ID, startTestGatehouse } from "../../fixtures";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
// Without the contract tap: it would parse every 950 KB frame again in this process and be measured with it.
const g = await startTestGatehouse({
  conformance: false,
  env: {
    AGENT_RUNTIME_URL: process.env.AGENT_RUNTIME_URL!,
    GATEHOUSE_MANIFEST_DIR: resolve(import.meta.dirname, "../../../examples/manifests"),
    // The replay window and its trim timer are left at their defaults (2 minutes, 1 s): what is measured is what
    // an operator runs.
    // The bound on heap growth an operator facing large prompts sets (the default keeps V8's, for throughput).
    GATEHOUSE_HEAP_GROWING_PERCENT: "20",
  },
});
const token = await g.devIssuer!.mint({ sub: "dev@acme", org: ORG_ID, roles: ["developer"] });
const MiB = 1024 * 1024;
let peak = 0;
let atPeak: Record<string, number> = {};
setInterval(() => {
  const usage = process.memoryUsage();
  if (usage.rss <= peak) return;
  peak = usage.rss;
  // Which part grew, should the bound fail: V8's spaces (large strings live in large_object_space) or Buffers.
  atPeak = { heapUsed: usage.heapUsed / MiB, arrayBuffers: usage.arrayBuffers / MiB };
  for (const space of getHeapSpaceStatistics()) atPeak[space.space_name] = space.space_size / MiB;
}, 20).unref();
process.on("message", async (message) => {
  if (message === "measure") {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    gc();
    const rss = process.memoryUsage().rss;
    const youngMiB = getHeapSpaceStatistics().find((space) => space.space_name === "new_space")!.space_size / MiB;
    process.send!({ rss, peak: Math.max(peak, rss), atPeak, youngMiB });
    peak = 0;
    atPeak = {};
  }
  if (message === "stop") {
    await g.dispose();
    process.exit(0);
  }
});
process.send!({ url: g.url, token });
