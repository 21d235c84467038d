// A bench line per Node major (issue #17: 20 and 22): the key lines run again with the target on every other
// major. One found on the machine is used as it is; one found nowhere is installed from the npm registry, the one
// registry the machine reaches (./node-tree.ts then builds the native addon for it). What cannot be had is
// reported as skipped, with why.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { addonLoads, prepareTree } from "./node-tree";

export interface OtherNode {
  major: number;
  /** The binary, or undefined when none was found (then `why`). */
  path?: string;
  version?: string;
  /** Where the targets run when the project's own native addon does not load under this Node (./node-tree.ts). */
  tree?: string;
  why?: string;
}

const PROJECT_ROOT = resolve(import.meta.dirname, "..");
const CURRENT = Number(process.versions.node.split(".")[0]);

let found: OtherNode[] | undefined;

/**
 * BENCH_NODE_MAJORS (default "20,22"): the majors wanted besides the one running the bench; BENCH_NODE_<major>
 * names a binary the search below would not find. A major found nowhere on the machine is installed from the npm
 * registry (BENCH_NODE_INSTALL=0: not). Looked up once per run.
 */
export function otherNodes(): OtherNode[] {
  const wanted = (process.env.BENCH_NODE_MAJORS ?? "20,22").split(",").map(Number).filter(Boolean);
  found ??= wanted.filter((major) => major !== CURRENT).map(findNode);
  return found;
}

/** Versioned install folders under `dir` (nvm, n, tarballs in /opt) whose name starts with `prefix`. */
function under(dir: string, prefix: string, bin: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.startsWith(prefix))
    .map((name) => join(dir, name, bin));
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
  const path = candidates.find((candidate) => versionOf(candidate)?.startsWith(`v${major}.`)) ?? fromRegistry(major);
  if (typeof path !== "string") return { major, why: path.why };
  const version = versionOf(path)!;
  // node_modules' better-sqlite3 is built by `npm ci` for the Node that installed it.
  if (addonLoads(path, PROJECT_ROOT)) return { major, path, version };
  // The binary's install folder (bin/node → ..) carries the headers of that very version.
  const tree = prepareTree(major, path, dirname(dirname(path)));
  return tree.root
    ? { major, path, version, tree: tree.root }
    : { major, version, why: `found at ${path}, but ${tree.why}` };
}

function versionOf(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  return spawnSync(path, ["--version"], { encoding: "utf8" }).stdout?.trim();
}

/**
 * The official build of the newest `major`, from the npm registry (package node-<platform>-<arch>: the binary and
 * its headers), installed once under .tmp/node-<major>/; its binary, or why not.
 */
function fromRegistry(major: number): string | { why: string } {
  const notHere = `not installed here (looked in /usr/local/bin, /usr/bin, /opt, n and nvm folders; BENCH_NODE_${major} names one`;
  if (process.env.BENCH_NODE_INSTALL === "0") return { why: `${notHere}; BENCH_NODE_INSTALL=0)` };
  const prefix = join(PROJECT_ROOT, ".tmp", `node-${major}`);
  const pkg = `node-${process.platform}-${process.arch}`;
  const binary = join(prefix, "node_modules", pkg, "bin", "node");
  if (versionOf(binary)?.startsWith(`v${major}.`)) return binary;
  console.log(`  installing Node ${major} from the npm registry (${pkg}@${major}) under ${prefix}…`);
  const installed = spawnSync(
    "npm",
    ["install", "--no-save", "--no-package-lock", "--no-audit", "--no-fund", "--prefix", prefix, `${pkg}@${major}`],
    { encoding: "utf8" },
  );
  if (installed.status === 0 && versionOf(binary)?.startsWith(`v${major}.`)) return binary;
  const tail = `${installed.stdout}${installed.stderr}`.trim().split("\n").slice(-2).join(" / ");
  return { why: `${notHere}) and ${pkg}@${major} could not be installed from the npm registry: ${tail}` };
}
