// One benchmark target per process, so the load generator never shares an event loop with a server:
//   tsx bench/targets.ts node|koa|gatehouse PORT
// Gatehouse runs on its embedded default in a temporary data directory; extra env comes from the parent.
import { createServer } from "node:http";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Koa from "koa";

const [kind, portArg] = process.argv.slice(2);
const port = Number(portArg);
const hello = JSON.stringify({ status: "ok", service: "hello" });

async function start(): Promise<void> {
  if (kind === "node") {
    createServer((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(hello);
    }).listen(port, "127.0.0.1");
  } else if (kind === "koa") {
    const app = new Koa();
    app.use((ctx) => {
      ctx.type = "application/json";
      ctx.body = hello;
    });
    app.listen(port, "127.0.0.1");
  } else if (kind === "gatehouse") {
    const { loadConfig } = await import("../src/config");
    const { startGatehouse } = await import("../src/server");
    const { logger } = await import("../src/core/log/logger");
    logger.level = "silent";
    const config = loadConfig({
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      GATEHOUSE_DATA_DIR: process.env.GATEHOUSE_DATA_DIR ?? mkdtempSync(join(tmpdir(), "gatehouse-bench-")),
    });
    await startGatehouse(config, logger);
  } else {
    throw new Error(`unknown target ${kind}`);
  }
  process.send?.("ready");
}

void start();
