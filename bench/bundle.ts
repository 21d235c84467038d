// The bench's targets run the way production runs Gatehouse: bundled by esbuild exactly as `make build` bundles
// dist/main.js (deploy/build.ts), then loaded by plain node. Under tsx, esbuild's keepNames adds a `__name` call
// for every named function and class created per request; the bundle measured 8–9% less CPU per request on the
// health and evaluate lines (bench/ab.ts, 4 alternated rounds). `npx tsx bench/bundle.ts` builds it by hand.
import { dirname, resolve } from "node:path";
import { bundle } from "../deploy/build";

/** The bundle of ./targets.ts inside the checkout at `root`. */
export function targetsBundle(root = resolve(import.meta.dirname, "..")): string {
  return resolve(root, ".tmp/bench-dist/targets.js");
}

let built: Promise<string> | undefined;

/** Builds this checkout's bundle once per run (a second of esbuild); its path. */
export function bundleTargets(): Promise<string> {
  built ??= bundle({ targets: "bench/targets.ts" }, dirname(targetsBundle())).then(() => targetsBundle());
  return built;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  console.log(`built ${await bundleTargets()}`);
}
