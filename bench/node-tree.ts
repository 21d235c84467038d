// The project as another Node major loads it. npm builds the one native addon (better-sqlite3) for the Node that
// installed node_modules; under another major it fails with "NODE_MODULE_VERSION". This tree, under
// .tmp/node-<major>/tree/, holds the project's files (symbolic links), a node_modules whose entries link to the
// project's own except better-sqlite3, which is a copy built for that major from the headers its Node ships (no
// download: node-gyp gets --nodedir), and a copy of the bench targets' bundle.
//
// Why a whole tree and not only another node_modules beside the bundle: the bundle resolves paths relative to the
// source files it came from (deploy/build.ts rewrites import.meta to them), and the WAL checkpointer resolves
// better-sqlite3 from its source file's folder (src/core/store/wal-checkpointer.ts) for its worker thread. Inside
// the tree both lead to the tree's node_modules, because Node resolves from the path it is given, not through
// the links.
import { spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const PROJECT_ROOT = resolve(import.meta.dirname, "..");
const ADDON = "better-sqlite3";
/** Top-level entries of the project the tree does not link: its own node_modules and .tmp, and local state. */
const NOT_LINKED = new Set(["node_modules", ".tmp", ".git", ".data"]);

/** The tree's root for a Node major. */
export function treeRoot(major: number): string {
  return join(PROJECT_ROOT, ".tmp", `node-${major}`, "tree");
}

/**
 * Makes (or refreshes) the tree for the Node at `nodePath` whose headers are under `nodeDir/include/node`; its
 * root, or why it could not be made. The addon is rebuilt only when that Node's version or the addon's changed.
 */
export function prepareTree(major: number, nodePath: string, nodeDir: string): { root?: string; why?: string } {
  if (!existsSync(join(nodeDir, "include", "node", "node.h")))
    return { why: `no Node headers under ${nodeDir}/include/node to build ${ADDON} for it` };
  const root = treeRoot(major);
  mkdirSync(join(root, "node_modules"), { recursive: true });
  linkEntries(PROJECT_ROOT, root, (name) => !NOT_LINKED.has(name));
  linkEntries(join(PROJECT_ROOT, "node_modules"), join(root, "node_modules"), (name) => name !== ADDON);
  const version = spawnSync(nodePath, ["--version"], { encoding: "utf8" }).stdout.trim();
  const stamp = `${version} ${ADDON}@${addonVersion(join(PROJECT_ROOT, "node_modules", ADDON))}`;
  const addon = join(root, "node_modules", ADDON);
  const stampFile = join(root, ".addon-built-for");
  if (!existsSync(stampFile) || readFileSync(stampFile, "utf8") !== stamp || !addonLoads(nodePath, root)) {
    const failure = buildAddon(addon, nodeDir);
    if (failure) return { why: failure };
    writeFileSync(stampFile, stamp);
  }
  if (!addonLoads(nodePath, root)) return { why: `${ADDON} built for ${version} still does not load under it` };
  return { root };
}

/** Copies this run's bundle into the tree, at the same place relative to the root; the copy's path. */
export function bundleInTree(root: string, bundle: string): string {
  const copy = join(root, relative(PROJECT_ROOT, bundle));
  rmSync(dirname(copy), { recursive: true, force: true });
  cpSync(dirname(bundle), dirname(copy), { recursive: true });
  return copy;
}

/** A link in `to` for every entry of `from` that `wanted` names (links from an earlier run are replaced). */
function linkEntries(from: string, to: string, wanted: (name: string) => boolean): void {
  for (const name of readdirSync(from)) {
    if (!wanted(name)) continue;
    const link = join(to, name);
    if (isLink(link)) rmSync(link);
    else if (existsSync(link)) continue; // a real entry of the tree (e.g. the built addon): kept
    symlinkSync(join(from, name), link);
  }
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function addonVersion(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { version: string }).version;
}

/** Copies the project's addon sources into the tree and compiles them against `nodeDir`'s headers. */
function buildAddon(addon: string, nodeDir: string): string | undefined {
  rmSync(addon, { recursive: true, force: true });
  cpSync(join(PROJECT_ROOT, "node_modules", ADDON), addon, {
    recursive: true,
    filter: (source) => !source.includes(`${ADDON}/build`),
  });
  const gyp = npmNodeGyp();
  if (!gyp) return `node-gyp not found beside npm, so ${ADDON} cannot be built for this Node`;
  console.log(`  building ${ADDON} for the Node under ${nodeDir} (once; about a minute)…`);
  const built = spawnSync(process.execPath, [gyp, "rebuild", "--release", `--nodedir=${nodeDir}`, "-j", "max"], {
    cwd: addon,
    encoding: "utf8",
    // npm (and `npm run`, `npx`) hands its `nodedir` setting to node-gyp through the environment, where it wins over
    // the flag: this machine's npm sets it to the system Node's headers.
    env: { ...process.env, npm_config_nodedir: nodeDir },
  });
  if (built.status === 0) return undefined;
  const tail = `${built.stdout}${built.stderr}`.trim().split("\n").slice(-3).join(" / ");
  return `building ${ADDON} for it failed: ${tail}`;
}

/** The node-gyp npm itself uses (npm ships it). */
function npmNodeGyp(): string | undefined {
  const root = spawnSync("npm", ["root", "-g"], { encoding: "utf8" }).stdout?.trim();
  const gyp = root && join(root, "npm", "node_modules", "node-gyp", "bin", "node-gyp.js");
  return gyp && existsSync(gyp) ? gyp : undefined;
}

/** Whether the addon `root`'s node_modules holds loads under `nodePath` (as a bundle under `root` will load it). */
export function addonLoads(nodePath: string, root: string): boolean {
  const probe = spawnSync(nodePath, ["-e", `new (require('${ADDON}'))(':memory:').close()`], { cwd: root });
  return probe.status === 0;
}
