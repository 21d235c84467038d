// Where the console's sources and built assets live. Kept apart from build.ts so the server can find the
// assets without loading esbuild (a dev tool: a production install has no esbuild and needs none).
import { join, resolve } from "node:path";

export const CONSOLE_ROOT = resolve(import.meta.dirname);
export const CONSOLE_DIST = join(CONSOLE_ROOT, "dist");
