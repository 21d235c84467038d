// Starts Prism on the generated spec, as `make mock` does, and stops it by PID.
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");

/** How long Prism may take to answer: it parses a 0.5 MB spec, and a loaded 2-core CI machine slows that tenfold. */
const START_DEADLINE_MS = 180_000;

export interface PrismMock {
  url: string;
  /** Resolves once Prism answers, rejects with its output if it exits or does not answer in time. */
  ready: Promise<void>;
  stop(): Promise<void>;
}

/** Resolves once `url` answers HTTP at all; `exited` says why it never will. */
export async function waitForHttp(url: string, exited: () => string | undefined = () => undefined): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    const gone = exited();
    if (gone !== undefined) throw new Error(gone);
    try {
      await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing answered at ${url} within ${START_DEADLINE_MS / 1000} s`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Spawns Prism without waiting for it: `ready` says when it answers. */
export function launchPrism(port: number): PrismMock {
  const child: ChildProcess = spawn(
    resolve(root, "node_modules/.bin/prism"),
    ["mock", "-p", String(port), "-h", "127.0.0.1", resolve(root, "generated/openapi.yaml")],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  // A child killed by a signal (stop(), or anything else) has a signalCode and no exitCode.
  const exited = () =>
    child.exitCode === null && child.signalCode === null
      ? undefined
      : `prism exited (${child.exitCode ?? child.signalCode}):\n${output}`;
  const ready = waitForHttp(url, exited).catch((e: Error) => {
    throw new Error(`${e.message}\n${output}`);
  });
  ready.catch(() => {}); // a caller that never awaits it must not crash the process
  return {
    url,
    ready,
    stop: () =>
      new Promise((ok) => {
        if (child.exitCode !== null || child.signalCode !== null) return ok();
        child.once("exit", () => ok());
        child.kill("SIGTERM");
      }),
  };
}

export async function startPrism(port: number): Promise<PrismMock> {
  const prism = launchPrism(port);
  await prism.ready;
  return prism;
}
