// src/main.ts started as `make run` starts it, in a process of its own (tests that kill the gateway and look at what
// it leaves behind). Resolves once its banner, on stderr, matches `ready`.
import { type ChildProcess, spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const ROOT = resolve(import.meta.dirname, "../..");
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;
const MAIN = join(ROOT, "src/main.ts");

/** Starts the gateway with only `env` (and PATH, a loopback HOST, a port the system picks); `ready`'s match. */
export function startMainProcess(
  env: Record<string, string>,
  ready: RegExp,
): { gateway: ChildProcess; banner: Promise<RegExpExecArray> } {
  const gateway = spawn(process.execPath, ["--import", TSX, MAIN], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOST: "127.0.0.1", PORT: "0", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  const banner = new Promise<RegExpExecArray>((ok, fail) => {
    gateway.stderr!.on("data", (d) => {
      stderr += d;
      const match = ready.exec(stderr);
      if (match) ok(match);
    });
    gateway.once("exit", (code) => fail(new Error(`the gateway exited (${code}) before listening: ${stderr}`)));
  });
  return { gateway, banner };
}
