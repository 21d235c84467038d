// `gatehouse serve` (also `make run` / `npm start` through src/main.ts): start Gatehouse and print how to call it.
import { checkDataDir, ConfigError, loadConfig } from "../config";
import { logger } from "../core/log/logger";
import { DataDirLockedError, lockDataDir } from "../data-dir-lock";
import { startGatehouse } from "../server";
import { spawnAgentRuntime } from "./agent-runtime-process";

export async function serve(): Promise<void> {
  let config;
  try {
    config = loadConfig();
    checkDataDir(config.dataDir);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  // One Gatehouse per data directory: its SQLite file and secret are never shared silently by two processes.
  try {
    const lock = lockDataDir(config.dataDir);
    process.once("exit", () => lock.release());
  } catch (err) {
    if (err instanceof DataDirLockedError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
  // The embedded default brings its own agent runtime (examples/agent-runtime) unless one is configured: a child
  // process, so that what the runtime does with a prompt never runs on the gateway's event loop.
  let runtime: { url: string; close(): Promise<void> } | undefined;
  if (!config.agentRuntimeUrl && process.env.GATEHOUSE_EMBEDDED_RUNTIME === "1") {
    const port = Number(process.env.AGENT_RUNTIME_PORT ?? 8001);
    runtime = await spawnAgentRuntime(port).catch((err) => {
      throw portTaken(err, "AGENT_RUNTIME_PORT");
    });
    config = { ...config, agentRuntimeUrl: runtime.url };
  }
  const gatehouse = await startGatehouse(config, logger).catch((err) => {
    throw portTaken(err, "PORT");
  });
  const key = config.apiKeys.find((k) => k !== "changeme");
  const lines = [
    ``,
    `Gatehouse ${gatehouse.url} (data: ${config.dataDir})`,
    ``,
    `  curl ${gatehouse.url}/health`,
    key
      ? `  curl -H "X-API-Key: ${key}" ${gatehouse.url}/purutos`
      : `  (no API key configured: set PURUTO_GATEWAY_API_KEY — /purutos answers 503 until then)`,
    `  spec:    ${gatehouse.url}/openapi.json   ${gatehouse.url}/asyncapi.yaml`,
    `  console: ${gatehouse.url}/console   (sign in with the operator TOKEN below)`,
    `  agent runtime: ${config.agentRuntimeUrl ?? "http://127.0.0.1:8001 (AGENT_RUNTIME_URL unset)"}${runtime ? " (reference runtime, own process)" : ""}`,
  ];
  if (gatehouse.devIssuer) {
    const operator = await gatehouse.devIssuer.mint({
      sub: "operator@dev",
      org: config.defaultOrg,
      roles: ["operator"],
      ttlSeconds: 12 * 3600,
    });
    lines.push(
      `  jwks:    ${gatehouse.url}/.well-known/jwks.json (built-in development issuer)`,
      ``,
      `  export API_KEY=${key ?? "<set PURUTO_GATEWAY_API_KEY>"} ORG_ID=${config.defaultOrg}`,
      `  export TOKEN=${operator}`,
      `  more tokens: npm run -s gatehouse -- token --sub alice --org ${config.defaultOrg} --role operator`,
    );
    const ide = await gatehouse.devIssuer.mint({
      sub: "ide-user@dev",
      org: config.defaultOrg,
      roles: ["developer"],
      ttlSeconds: 12 * 3600,
    });
    lines.push(
      ``,
      `  IDE session (WebSocket, token in the Authorization header or Sec-WebSocket-Protocol "bearer.<token>"):`,
      `  ${gatehouse.url.replace("http", "ws")}/ws/my-session   Authorization: Bearer ${ide}`,
    );
  }
  console.log(lines.join("\n") + "\n");

  const stop = async (signal: string) => {
    logger.info({ signal }, "shutting down");
    await gatehouse.close();
    await runtime?.close();
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
}

/** A listen error on a taken port, reworded to name the variable that chose the port. */
function portTaken(err: unknown, variable: string): unknown {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  if (e?.code !== "EADDRINUSE") return err;
  return new Error(`${e.address ?? ""}:${e.port ?? "?"} is already in use; choose another port with ${variable}`);
}

/** Runs `serve` and turns a start-up failure into one readable line and exit code 1. */
export function serveOrExit(): void {
  serve().catch((err) => {
    logger.fatal({ err }, "start-up failed");
    console.error(`Gatehouse failed to start: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
}
