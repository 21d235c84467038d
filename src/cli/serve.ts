// `gatehouse serve` (also `make run` / `npm start` through src/main.ts): start Gatehouse and print how to call it.
import { CONFIG_VARIABLES, checkDataDir, ConfigError, loadConfig } from "../config";
import { logFormat, logger } from "../core/log/logger";
import { isPostgresUrl } from "../core/store/postgres";
import { startTracing } from "../core/tracing";
import { DataDirLockedError, lockDatabaseFile, lockDataDir } from "../data-dir-lock";
import { startGatehouse } from "../server";
import { spawnAgentRuntime } from "./agent-runtime-process";
import { bannerLines, cliCommand } from "./banner";

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
  // One Gatehouse per data directory and per SQLite file: neither is ever shared silently by two processes.
  try {
    const locks = [lockDataDir(config.dataDir)];
    if (!isPostgresUrl(config.databaseUrl)) locks.push(lockDatabaseFile(config.databaseFile));
    process.once("exit", () => {
      for (const lock of locks) lock.release();
    });
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
    runtime = await spawnAgentRuntime(config.agentRuntimePort).catch((err) => {
      throw portTaken(err, "AGENT_RUNTIME_PORT");
    });
    config = { ...config, agentRuntimeUrl: runtime.url };
  }
  // Before the server is built: the HTTP layer installs its span middleware only when tracing is on.
  const tracing = await startTracing(process.env);
  const gatehouse = await startGatehouse(config, logger).catch((err) => {
    throw listenRefused(err, config.host, setAs("PORT"), setAs("HOST"));
  });
  // Signals are handled from the moment the server listens, before anyone is told it does.
  const stop = async (signal: string) => {
    logger.info({ signal }, "shutting down");
    await gatehouse.close();
    await runtime?.close();
    // The last spans (the drain itself) are exported before the process goes.
    await tracing.shutdown();
    process.exit(0);
  };
  // A second signal while draining (Ctrl-C twice, or `make` passing its own SIGTERM on) stops at once, through
  // process.exit: its 'exit' hooks kill every running command and the runtime. Left to Node's default action, the
  // second signal ended the process without them, and a running command outlived the gateway.
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal while shutting down: stopping now, running commands are killed");
      process.exit(1);
    }
    stopping = true;
    void stop(signal);
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  // Working credentials (the API key, 12-hour operator and IDE tokens) only for the development default that
  // `make run` starts (its own reference runtime): anywhere else the banner lands in container logs, where anyone
  // who can read them would be an operator. There it says how to mint a token instead.
  const development = runtime !== undefined;
  const key = config.apiKeys.find((k) => k !== "changeme");
  const mint = (sub: string, role: string) =>
    development
      ? gatehouse.devIssuer?.mint({ sub, org: config.defaultOrg, roles: [role], ttlSeconds: 12 * 3600 })
      : undefined;
  const operator = await mint("operator@dev", "operator");
  const ide = await mint("ide-user@dev", "developer");
  const lines = bannerLines({
    url: gatehouse.url,
    dataDir: config.dataDir,
    ...(key ? { apiKey: key } : {}),
    credentials: development,
    org: config.defaultOrg,
    agentRuntime: `${config.agentRuntimeUrl ?? "http://127.0.0.1:8001 (AGENT_RUNTIME_URL unset)"}${runtime ? " (reference runtime, own process)" : ""}`,
    ...(operator && ide ? { tokens: { operator, ide } } : {}),
    ...(gatehouse.devIssuer ? { issuer: true } : {}),
    cli: cliCommand(process.argv[1], process.cwd()),
  });
  // stdout carries the logs: JSON lines when it is not a terminal, so the banner goes to stderr then.
  const banner = `${lines.join("\n")}\n`;
  if (logFormat(process.stdout.isTTY, process.env.LOG_FORMAT) === "pretty") console.log(banner);
  else console.error(banner);
  logger.info({ url: gatehouse.url, tracing: Boolean(process.env.OTEL_EXPORTER_OTLP_ENDPOINT) }, "listening");
}

/** The name a variable was set under (PORT or its seed alias PURUTO_GATEWAY_PORT…), for the messages below. */
function setAs(name: string): string {
  const aliases = CONFIG_VARIABLES.find((v) => v.name === name)?.aliases ?? [];
  return [name, ...aliases].find((n) => process.env[n]) ?? name;
}

/** A listen error on a taken (or forbidden) port, reworded as a configuration error naming the variable. */
function portTaken(err: unknown, variable: string): unknown {
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  const where = `${e?.address ?? ""}:${e?.port ?? "?"}`;
  if (e?.code === "EADDRINUSE")
    return new ConfigError(variable, `names a port that is already in use (${where}); choose another one`);
  if (e?.code === "EACCES") return new ConfigError(variable, `names a port this user may not listen on (${where})`);
  return err;
}

/**
 * The gateway's listen error: a port one (PORT), or HOST naming an address no interface has or a name that does
 * not resolve (only the lookup of `host` itself: another start-up lookup, e.g. DATABASE_URL's, stays what it is).
 */
function listenRefused(err: unknown, host: string, portVariable: string, hostVariable: string): unknown {
  const e = err as NodeJS.ErrnoException & { hostname?: string; address?: string };
  const notLocal = e?.code === "EADDRNOTAVAIL" && e.syscall === "listen";
  const unresolved = (e?.code === "ENOTFOUND" || e?.code === "EAI_AGAIN") && e.hostname === host;
  if (notLocal || unresolved)
    return new ConfigError(hostVariable, `names an address this machine cannot listen on (${host}: ${e.code})`);
  return portTaken(err, portVariable);
}

/**
 * Runs `serve` and turns a start-up failure into one readable line: a configuration error exits 2 with the
 * message only (no stack trace: the fix is in the environment, not the code), anything else exits 1.
 */
export function serveOrExit(): void {
  serve().catch((err) => {
    if (err instanceof ConfigError) {
      logger.fatal(err.message);
      console.error(err.message);
      process.exit(2);
    }
    logger.fatal({ err }, "start-up failed");
    console.error(`Gatehouse failed to start: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
}
