// `make build`: bundles the server (src/main.ts) and the CLI (src/cli/main.ts) into dist/ with esbuild.
// npm packages stay external: `npm ci --omit=dev` installs them beside dist/, and no TypeScript tool runs
// in production.
//
// Modules find their data files (generated/openapi.json, spec/*.asyncapi.yaml, package.json) relative to
// their own source location (`import.meta.dirname`, `import.meta.url`). In one bundle every module would
// share dist/'s location, so each source file's `import.meta` is rewritten to the location it had in the
// source tree, relative to the bundle: dist/ sits at the project root, next to src/, generated/ and spec/.
import { build, type Plugin } from "esbuild";
import { readFile } from "node:fs/promises";
import { dirname, relative, resolve } from "node:path";
import { renderDocs } from "./docs";

export const PROJECT_ROOT = resolve(import.meta.dirname, "..");
export const DIST_DIR = resolve(PROJECT_ROOT, "dist");

/**
 * Rewrites `import.meta.dirname` / `import.meta.url` of each source file to its source-tree location, relative
 * to `bundleDir` (where the bundle sits in the project tree).
 */
const sourceLocations = (bundleDir: string): Plugin => ({
  name: "source-locations",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const text = await readFile(args.path, "utf8");
      const fromDist = relative(bundleDir, args.path).split("\\").join("/");
      const dirFromDist = relative(bundleDir, dirname(args.path)).split("\\").join("/");
      const contents = text
        .replace(/import\.meta\.dirname/g, `__ghResolve(import.meta.dirname, ${JSON.stringify(dirFromDist)})`)
        .replace(/import\.meta\.url/g, `new URL(${JSON.stringify(fromDist)}, import.meta.url).href`);
      return { contents, loader: "ts" };
    });
  },
});

export async function buildDist(outdir = DIST_DIR): Promise<void> {
  await bundle({ main: "src/main.ts", cli: "src/cli/main.ts" }, outdir, DIST_DIR);
}

/**
 * Bundles `entryPoints` (name → source file) into `outdir`, as `make build` does. `bundleDir`: where the bundle's
 * modules look for their data files from (default `outdir`; a copy laid out like the project passes its dist/).
 */
export async function bundle(entryPoints: Record<string, string>, outdir: string, bundleDir = outdir): Promise<void> {
  await build({
    absWorkingDir: PROJECT_ROOT,
    entryPoints,
    outdir,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    sourcemap: true,
    // No code splitting: every module's rewritten `import.meta` assumes it runs from a file directly in dist/.
    logLevel: "warning",
    plugins: [sourceLocations(bundleDir)],
    banner: {
      js: ["#!/usr/bin/env node", 'import { resolve as __ghResolve } from "node:path";'].join("\n"),
    },
  });
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  await buildDist();
  // The docs pages (/docs, /docs/websocket) ship in dist/docs: a production install has no renderer.
  await renderDocs(resolve(DIST_DIR, "docs"));
  console.log(`built ${relative(process.cwd(), DIST_DIR) || "."}/main.js, cli.js and docs/`);
}
