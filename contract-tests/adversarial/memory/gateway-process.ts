// The gateway of the memory test, alone in its process (run with --expose-gc), so that its RSS is what is
// measured: the IDEs are in the test's process and the agent runtime in another child. It answers on IPC:
//   → {url, token}              once listening
//   ← "measure" → {rss, peak}   RSS after two full GCs, and the highest RSS sampled since the last measure
import { resolve } from "node:path";
import { ORG_ID, startTestGatehouse } from "../../fixtures";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const g = await startTestGatehouse({
  env: {
    AGENT_RUNTIME_URL: process.env.AGENT_RUNTIME_URL!,
    GATEHOUSE_MANIFEST_DIR: resolve(import.meta.dirname, "../../../examples/manifests"),
    GATEHOUSE_WS_REPLAY_WINDOW_MS: process.env.GATEHOUSE_WS_REPLAY_WINDOW_MS ?? "5000",
    GATEHOUSE_WS_REPLAY_TRIM_INTERVAL_MS: process.env.GATEHOUSE_WS_REPLAY_TRIM_INTERVAL_MS ?? "500",
  },
});
const token = await g.devIssuer!.mint({ sub: "dev@acme", org: ORG_ID, roles: ["developer"] });
let peak = 0;
setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 20).unref();
process.on("message", async (message) => {
  if (message === "measure") {
    gc();
    await new Promise((r) => setTimeout(r, 50));
    gc();
    const rss = process.memoryUsage().rss;
    process.send!({ rss, peak: Math.max(peak, rss) });
    peak = 0;
  }
  if (message === "stop") {
    await g.dispose();
    process.exit(0);
  }
});
process.send!({ url: g.url, token });
