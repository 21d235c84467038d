// The reference agent runtime of the embedded default (`make run`) runs as its own process, never inside the
// gateway: whatever an agent runtime does with a prompt (the reference one scans it with regular expressions,
// a real one runs a model) must not share the gateway's event loop, or one session's 1 MiB prompt would stall
// every other request. The child is started from the source checkout, answers on 127.0.0.1, and dies with us:
// on a clean exit we kill it, and when we are killed without a chance to (SIGKILL, OOM killer) the child sees
// its IPC channel close (and, as a fallback, its parent pid change) and exits on its own — no orphan keeps the
// runtime port after the gateway is gone.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { createInterface } from "node:readline";

const PROJECT_ROOT = resolve(import.meta.dirname, "../..");
const SCRIPT = resolve(PROJECT_ROOT, "examples/agent-runtime/server.ts");
const READY = /agent runtime listening on (http:\/\/\S+)/;

export interface AgentRuntimeProcess {
  url: string;
  pid: number;
  close(): Promise<void>;
}

/** Starts examples/agent-runtime in a child process on `port` (0 = any) and resolves once it listens. */
export function spawnAgentRuntime(
  port: number,
  startTimeoutMs = 20_000,
  extraEnv: Record<string, string> = {},
): Promise<AgentRuntimeProcess> {
  if (!existsSync(SCRIPT)) {
    return Promise.reject(
      new Error(`GATEHOUSE_EMBEDDED_RUNTIME needs ${SCRIPT} (a source checkout); set AGENT_RUNTIME_URL instead`),
    );
  }
  const { PORT: _port, ...env } = process.env;
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT], {
    cwd: PROJECT_ROOT,
    env: { ...env, ...extraEnv, AGENT_RUNTIME_PORT: String(port), HOST: "127.0.0.1" },
    // The IPC channel carries no messages: its close is how the child learns that we died.
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  // Our end of the channel must not keep the gateway alive on its own.
  child.channel?.unref();
  const killChild = () => child.kill("SIGKILL");
  process.once("exit", killChild);
  return new Promise((resolvePromise, reject) => {
    let stderrHint = "";
    const timer = setTimeout(() => {
      killChild();
      reject(new Error(`the reference agent runtime did not start within ${startTimeoutMs} ms`));
    }, startTimeoutMs);
    // Its errors are held until it listens (then passed through): a taken port is reported by the caller, naming
    // its variable, without the child's stack trace; any other start failure shows what the child said.
    let started = false;
    const held: string[] = [];
    const errors = createInterface({ input: child.stderr! });
    errors.on("line", (line) => {
      if (started) return void process.stderr.write(`${line}\n`);
      if (/EADDRINUSE/.test(line)) stderrHint = line;
      held.push(line);
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const ready = READY.exec(line);
      if (!ready) {
        stderrHint = line;
        return;
      }
      clearTimeout(timer);
      started = true;
      for (const line of held.splice(0)) process.stderr.write(`${line}\n`);
      // From now on its output is just passed through.
      lines.removeAllListeners("line");
      lines.on("line", (l) => process.stdout.write(`${l}\n`));
      resolvePromise({ url: ready[1]!, pid: child.pid!, close: () => stop(child, killChild) });
    });
    // "close", not "exit": by then every line it wrote has been read.
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      process.off("exit", killChild);
      const taken = /EADDRINUSE/.test(stderrHint);
      if (!taken) for (const line of held.splice(0)) process.stderr.write(`${line}\n`);
      reject(
        Object.assign(new Error(`the reference agent runtime exited (${signal ?? code}) ${stderrHint}`.trim()), {
          ...(taken ? { code: "EADDRINUSE", port, address: "127.0.0.1" } : {}),
        }),
      );
    });
  });
}

function stop(child: ChildProcess, killChild: () => void): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    const hard = setTimeout(killChild, 3_000).unref();
    child.once("exit", () => {
      clearTimeout(hard);
      process.off("exit", killChild);
      done();
    });
    child.kill("SIGTERM");
  });
}
