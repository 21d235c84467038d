// `gatehouse docs` renders the pages `make docs` renders (deploy/docs.ts: inlined scripts, no telemetry, no CDN
// asset) into dist/docs, where Gatehouse serves them at /docs — not a plain `redocly build-docs`, whose pages load
// redoc.standalone.js from cdn.redocly.com.
import { EventEmitter } from "node:events";
import { resolve } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";

const spawned: { command: string; args: string[]; cwd: unknown }[] = [];
vi.mock("node:child_process", async (importOriginal) => ({
  ...(await importOriginal<typeof import("node:child_process")>()),
  spawn: (command: string, args: string[], options: { cwd?: string }) => {
    spawned.push({ command, args, cwd: options.cwd });
    const child = new EventEmitter();
    queueMicrotask(() => child.emit("exit", 0));
    return child;
  },
}));

const { runCli } = await import("./program");
const ROOT = resolve(import.meta.dirname, "../..");

afterEach(() => {
  spawned.length = 0;
});

describe("gatehouse docs", () => {
  it("runs deploy/docs.ts (as make docs) in the project, once", async () => {
    const code = await runCli(["docs"], { stdout: () => {}, stderr: () => {} });
    expect(code).toBe(0);
    expect(spawned).toEqual([{ command: resolve(ROOT, "node_modules/.bin/tsx"), args: ["deploy/docs.ts"], cwd: ROOT }]);
  });
});
