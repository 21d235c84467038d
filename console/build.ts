// Builds the operator console (console/src) into static assets in console/dist: index.html, app.js, app.css.
// Run by `make build-console`; the server runs it too when it starts from a clone where it never ran.
// The build is written to a temporary folder and renamed into place, so a reader never sees half a build.
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

import { CONSOLE_DIST, CONSOLE_ROOT } from "./paths";

export { CONSOLE_DIST, CONSOLE_ROOT };

/**
 * `replaceExisting: false` (the server at start-up) keeps a build another process finished meanwhile instead
 * of swapping it out under a reader.
 */
export async function buildConsole(outDir: string = CONSOLE_DIST, { replaceExisting = true } = {}): Promise<string> {
  const staging = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  // Loaded here, not at the top: a production install has no esbuild and only needs the built assets.
  const { build } = await import("esbuild");
  mkdirSync(staging, { recursive: true });
  try {
    await build({
      entryPoints: { app: join(CONSOLE_ROOT, "src/main.tsx") },
      outdir: staging,
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      minify: true,
      sourcemap: false,
      jsx: "automatic",
      jsxImportSource: "preact",
      tsconfig: join(CONSOLE_ROOT, "tsconfig.json"),
      logLevel: "warning",
      legalComments: "none",
    });
    copyFileSync(join(CONSOLE_ROOT, "index.html"), join(staging, "index.html"));
    if (!replaceExisting && existsSync(join(outDir, "index.html"))) {
      rmSync(staging, { recursive: true, force: true });
      return outDir;
    }
    rmSync(outDir, { recursive: true, force: true });
    renameSync(staging, outDir);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    // Another process may have built it meanwhile: a complete build is as good as ours.
    if (!existsSync(join(outDir, "index.html"))) throw err;
  }
  return outDir;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  buildConsole().then(
    (dir) => console.log(`console built into ${dir}`),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
