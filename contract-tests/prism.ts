// Starts Prism on the generated spec, as `make mock` does, and stops it by PID.
import { spawn, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");

export interface PrismMock {
  url: string;
  stop(): Promise<void>;
}

export async function startPrism(port: number): Promise<PrismMock> {
  const child: ChildProcess = spawn(
    resolve(root, "node_modules/.bin/prism"),
    ["mock", "-p", String(port), "-h", "127.0.0.1", resolve(root, "generated/openapi.yaml")],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prism exited (${child.exitCode}):\n${output}`);
    try {
      await fetch(`${url}/health`);
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`prism did not start in 60 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return {
    url,
    stop: () =>
      new Promise((ok) => {
        if (child.exitCode !== null) return ok();
        child.once("exit", () => ok());
        child.kill("SIGTERM");
      }),
  };
}
