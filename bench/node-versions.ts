// A bench line per Node major (issue #17: 20 and 22): the key lines run again with the target on every other
// major found on this machine. Nothing is downloaded: an absent major is reported as skipped.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";

export interface OtherNode {
  major: number;
  /** The binary, or undefined when none was found (then `why`). */
  path?: string;
  version?: string;
  why?: string;
}

const PROJECT_ROOT = resolve(import.meta.dirname, "..");
const CURRENT = Number(process.versions.node.split(".")[0]);

/**
 * BENCH_NODE_MAJORS (default "20,22"): the majors wanted besides the one running the bench; BENCH_NODE_<major>
 * names a binary the search below would not find.
 */
export function otherNodes(): OtherNode[] {
  const wanted = (process.env.BENCH_NODE_MAJORS ?? "20,22").split(",").map(Number).filter(Boolean);
  return wanted.filter((major) => major !== CURRENT).map(findNode);
}

/** Versioned install folders under `dir` (nvm, n, tarballs in /opt) whose name starts with `prefix`. */
function under(dir: string, prefix: string, bin: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.startsWith(prefix))
    .map((name) => join(dir, name, bin));
}

/**
 * Why the project's native addon (better-sqlite3, built by `npm ci` for the Node that installed it) does not load
 * under the binary at `path`; undefined when it does. A target on that major would die at start-up, and with it
 * the whole run.
 */
function nativeAddonFailure(path: string): string | undefined {
  const probe = spawnSync(path, ["-e", "new (require('better-sqlite3'))(':memory:').close()"], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
  });
  if (probe.status === 0) return undefined;
  const abi = /NODE_MODULE_VERSION \d+/.exec(probe.stderr ?? "")?.[0];
  return `found at ${path}, but node_modules' better-sqlite3 does not load under it${abi ? ` (it was built for ${abi})` : ""}: install the project with that Node to bench it`;
}

function findNode(major: number): OtherNode {
  const candidates = [
    // BENCH_NODE_22=/path/to/node: a binary somewhere else.
    ...(process.env[`BENCH_NODE_${major}`] ? [process.env[`BENCH_NODE_${major}`]!] : []),
    ...["/usr/local/bin", "/usr/bin", "/opt/bin"].map((dir) => join(dir, `node${major}`)),
    ...under("/opt", `node-v${major}.`, "bin/node"),
    ...under("/opt", `node${major}`, "bin/node"),
    ...under("/usr/local/n/versions/node", `${major}.`, "bin/node"),
    ...under(join(homedir(), ".nvm/versions/node"), `v${major}.`, "bin/node"),
  ];
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    const version = spawnSync(path, ["--version"], { encoding: "utf8" }).stdout?.trim();
    if (!version?.startsWith(`v${major}.`)) continue;
    const unloadable = nativeAddonFailure(path);
    return unloadable ? { major, version, why: unloadable } : { major, path, version };
  }
  return {
    major,
    why: `not installed here (looked in /usr/local/bin, /usr/bin, /opt, n and nvm folders; BENCH_NODE_${major} names one)`,
  };
}
