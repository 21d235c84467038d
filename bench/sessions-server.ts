// Child process of bench/sessions.ts (so the server's RSS is its own). `gatehouse` mode: the real server
// (startGatehouse) on a temp data dir, limits lifted for the bench; `runtime` mode: the reference agent runtime.
// Talks to the parent over IPC: sends {url, token?} when ready, answers {cmd: "memory"} after a full GC.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startAgentRuntime } from "../examples/agent-runtime/server";
import { loadConfig } from "../src/config";
import { logger } from "../src/core/log/logger";
import { startGatehouse } from "../src/server";

const mode = process.argv[2];
const send = (message: unknown) => process.send!(message);

if (mode === "runtime") {
  const runtime = await startAgentRuntime({ port: 0, tokenDelayMs: 1 });
  send({ url: runtime.url });
} else if (mode === "gatehouse") {
  const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-bench-sessions-"));
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    GATEHOUSE_DATA_DIR: dataDir,
    PORT: "0",
    LOG_LEVEL: "silent",
    AGENT_RUNTIME_URL: process.env.BENCH_RUNTIME_URL!,
    // The bench opens thousands of sockets from one IP and sends thousands of frames on one session …
    GATEHOUSE_WS_CONNECTIONS_PER_IP_PER_MINUTE: "1000000",
    GATEHOUSE_WS_MESSAGES_PER_SESSION_PER_MINUTE: "1000000",
    // … all with one user's token.
    GATEHOUSE_WS_MAX_SESSIONS_PER_USER: "1000000",
  };
  const gatehouse = await startGatehouse(loadConfig(env), logger, env);
  const token = await gatehouse.devIssuer!.mint({
    sub: "bench@gatehouse",
    org: "default",
    roles: ["developer"],
    ttlSeconds: 3600,
  });
  process.on("message", (message: { cmd?: string }) => {
    if (message.cmd !== "memory") return;
    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    gc?.();
    setTimeout(() => {
      const { rss, heapUsed, external } = process.memoryUsage();
      send({ rss, heapUsed, external, gcExposed: Boolean(gc) });
    }, 200);
  });
  process.on("disconnect", () => {
    void gatehouse.close().finally(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    });
  });
  send({ url: gatehouse.url, token });
} else {
  console.error(`usage: sessions-server.ts runtime|gatehouse`);
  process.exit(2);
}
