// HAProxy in front of test nodes, with the configuration `make cluster` uses (deploy/cluster/haproxy.cfg).
// Outside CI a missing haproxy skips the tests that need it, naming it; under CI=true it is a failure
// (.ci/run installs Debian's package through deploy/cluster/ensure-haproxy.sh).
import { spawn, spawnSync } from "node:child_process";
import { resolve } from "node:path";

const CONFIG = resolve(import.meta.dirname, "../../deploy/cluster/haproxy.cfg");

export interface LoadBalancer {
  url: string;
  stop(): Promise<void>;
}

export interface HaproxyForTests {
  /** HAProxy on 127.0.0.1:`port` in front of `nodes` ("host:port" each, exactly two), ready to answer. */
  start(options: { nodes: [string, string] | string[]; port: number }): Promise<LoadBalancer>;
}

export async function haproxyForTests(suite: string): Promise<HaproxyForTests | undefined> {
  const found = spawnSync("haproxy", ["-v"], { encoding: "utf8" });
  if (found.status !== 0) {
    const message = `${suite}: HAProxy is not installed (deploy/cluster/ensure-haproxy.sh installs Debian's haproxy)`;
    if (process.env.CI === "true") throw new Error(`${message} (CI=true: HAProxy is required)`);
    console.warn(`${message} — skipping`);
    return undefined;
  }
  return {
    async start({ nodes, port }) {
      const child = spawn("haproxy", ["-db", "-f", CONFIG], {
        env: {
          ...process.env,
          GATEHOUSE_LB_BIND: `127.0.0.1:${port}`,
          GATEHOUSE_NODE_A: nodes[0],
          GATEHOUSE_NODE_B: nodes[1],
          GATEHOUSE_HEALTH_PATH: "/readyz",
        },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr!.on("data", (chunk) => (stderr += chunk));
      const url = `http://127.0.0.1:${port}`;
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}): ${stderr}`);
        const ok = await fetch(`${url}/readyz`)
          .then((r) => r.status === 200)
          .catch(() => false);
        if (ok) break;
        if (Date.now() > deadline) {
          child.kill("SIGKILL");
          throw new Error(`haproxy did not answer on ${url} in 20 s: ${stderr}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      return {
        url,
        stop: () =>
          new Promise<void>((ok) => {
            if (child.exitCode !== null || child.signalCode !== null) return ok();
            child.once("exit", () => ok());
            child.kill("SIGTERM");
          }),
      };
    },
  };
}

/** A free TCP port on 127.0.0.1, for HAProxy's bind (which cannot take port 0 and report it). */
export { freePort } from "../free-port";
