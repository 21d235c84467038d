// One benchmark target per process, so the load generator never shares an event loop with a server:
//   tsx bench/targets.ts node|koa|bytes|koa-bytes|gatehouse PORT
// Gatehouse runs on its embedded default in a temporary data directory; extra env comes from the parent
// (BENCH_SEED_* state is created before "ready", see ./seed.ts). Over IPC the parent can ask for a CPU profile
// of the load (profile-start/stop, bench/profile.ts) and for what the load did to this process's event loop and
// garbage collector (stats-start/stop, ./target-stats.ts).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Koa from "koa";
import { startLoadStats, type LoadStats } from "./target-stats";

const [kind, portArg] = process.argv.slice(2);
const port = Number(portArg);
const profiler = new Session();
const post = (method: string, params?: object) =>
  new Promise<unknown>((ok, fail) => profiler.post(method, params, (err, result) => (err ? fail(err) : ok(result))));
const hello = JSON.stringify({ status: "ok", service: "hello" });

/** The target's HTTP server (its requests are timed during a load: ./target-stats.ts). */
let server: Server | undefined;

/** Listens on the target's port (0: one the system picks, so concurrent bench runs never collide); the port. */
function listen(created: Server): Promise<number> {
  server = created;
  return new Promise((ok, fail) => {
    created.once("error", fail);
    created.listen(port, "127.0.0.1", () => ok((created.address() as AddressInfo).port));
  });
}

async function start(): Promise<void> {
  let listening: number;
  if (kind === "node") {
    listening = await listen(
      createServer((_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(hello);
      }),
    );
  } else if (kind === "bytes") {
    // The exact bytes a Gatehouse line answered, from a bare server: what sending that payload costs at all.
    const body = readFileSync(process.env.BENCH_BYTES_FILE!);
    const type = process.env.BENCH_BYTES_TYPE ?? "application/json";
    listening = await listen(
      createServer((_req, res) => {
        res.writeHead(200, { "content-type": type, "content-length": body.length });
        res.end(body);
      }),
    );
  } else if (kind === "koa-bytes") {
    // A bare Koa app doing the least a JSON API does for this exchange: read and parse the request's JSON body,
    // answer the exact bytes a Gatehouse line answered.
    const body = readFileSync(process.env.BENCH_BYTES_FILE!);
    const type = process.env.BENCH_BYTES_TYPE ?? "application/json";
    const app = new Koa();
    app.use(async (ctx) => {
      const chunks: Buffer[] = [];
      for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
      if (chunks.length) JSON.parse(Buffer.concat(chunks).toString("utf8"));
      ctx.type = type;
      ctx.body = body;
    });
    listening = await listen(createServer(app.callback()));
  } else if (kind === "koa") {
    const app = new Koa();
    app.use((ctx) => {
      ctx.type = "application/json";
      ctx.body = hello;
    });
    listening = await listen(createServer(app.callback()));
  } else if (kind === "gatehouse") {
    const { loadConfig } = await import("../src/config");
    const { startGatehouse } = await import("../src/server");
    const { logger: silent, createLogger } = await import("../src/core/log/logger");
    silent.level = "silent";
    // BENCH_LOG_FILE: the gateway's own log lines (the request line of every call at LOG_LEVEL=info) written as in
    // production, as JSON to a file, not to the bench's terminal.
    const logFile = process.env.BENCH_LOG_FILE;
    const { pino } = await import("pino");
    const logger = logFile
      ? createLogger({ env: { LOG_LEVEL: "info" }, destination: pino.destination({ dest: logFile, sync: false }) })
      : silent;
    const config = loadConfig({
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      GATEHOUSE_DATA_DIR: process.env.GATEHOUSE_DATA_DIR ?? ownDataDir(),
    });
    const gatehouse = await startGatehouse(config, logger);
    server = gatehouse.server;
    listening = Number(new URL(gatehouse.url).port);
    const { seedFromEnv } = await import("./seed");
    const seeded = await seedFromEnv(gatehouse, config.defaultOrg);
    if (seeded) console.log(`  (${seeded})`);
  } else {
    throw new Error(`unknown target ${kind}`);
  }
  process.send?.({ ready: true, port: listening });
}

let stopStats: (() => LoadStats) | undefined;

// bench/profile.ts: CPU-profile only the load (after start-up and warm-up), through the inspector.
// bench/run.ts: event-loop delay and GC pauses during the load window only.
process.on("message", async (message: { cmd?: string; file?: string }) => {
  if (message.cmd === "stats-start") {
    stopStats = startLoadStats(server!);
    process.send?.("stats-started");
  } else if (message.cmd === "stats-stop") {
    process.send?.({ stats: stopStats?.() });
    stopStats = undefined;
  } else if (message.cmd === "profile-start") {
    profiler.connect();
    await post("Profiler.enable");
    await post("Profiler.setSamplingInterval", { interval: 200 });
    await post("Profiler.start");
    process.send?.("profiling");
  } else if (message.cmd === "profile-stop" && message.file) {
    const { profile } = (await post("Profiler.stop")) as { profile: unknown };
    writeFileSync(message.file, JSON.stringify(profile));
    process.send?.("profile-written");
  }
});
/**
 * A data folder of this target's own, removed when the bench stops it (SIGTERM): each execute line leaves ~100 MB
 * of database and WAL, and a day of `make bench` and bench/ab.ts runs had filled /tmp with 3 GB of them.
 */
function ownDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-"));
  process.once("SIGTERM", () => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
  return dir;
}

void start();
