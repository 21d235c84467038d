// The production build: `make build` bundles dist/, and dist/ runs with production dependencies only.
// Installing them for real takes minutes here (native modules), so the test lays a node_modules of symlinks
// to exactly the packages package-lock.json does not mark `dev`: an import of tsx, TypeScript or any other
// dev tool from dist/ fails to resolve, as it would after `npm ci --omit=dev`.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildDist } from "../../deploy/build";

const ROOT = resolve(import.meta.dirname, "../..");

function productionPackages(): string[] {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([path, meta]) => path.startsWith("node_modules/") && !path.includes("/node_modules/", 1) && !meta.dev)
    .map(([path]) => path.slice("node_modules/".length));
}

function layProductionCopy(dir: string): void {
  for (const shared of ["package.json", "generated", "spec", "console"])
    symlinkSync(join(ROOT, shared), join(dir, shared));
  for (const name of productionPackages()) {
    const target = join(dir, "node_modules", name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(ROOT, "node_modules", name), target);
  }
}

describe("production build", () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "gatehouse-dist-"));
    layProductionCopy(dir);
    await buildDist(join(dir, "dist"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps TypeScript tooling out of the production dependencies", () => {
    const production = productionPackages();
    // esbuild is a production dependency: a server started without console/dist builds the console once.
    for (const devTool of ["tsx", "typescript", "vitest"]) expect(production).not.toContain(devTool);
    expect(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts.start).toBe("node dist/main.js");
  });

  it("starts from dist/ with production dependencies only, answers /health, and exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, [join(dir, "dist/main.js")], {
      cwd: dir,
      env: { PATH: process.env.PATH, PORT: "0", GATEHOUSE_DATA_DIR: join(dir, "data"), LOG_LEVEL: "warn" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const exited = new Promise<number | null>((ok) => child.on("exit", (code) => ok(code)));
    const url = await new Promise<string>((ok, fail) => {
      const onData = () => {
        const match = /Gatehouse (http:\/\/\S+)/.exec(output);
        if (match?.[1]) ok(match[1]);
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      void exited.then((code) => fail(new Error(`dist/main.js exited ${code} before listening:\n${output}`)));
    });
    const health = await fetch(`${url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ service: "gatehouse" });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 60_000);

  it("exports traces from dist/ when OTEL_EXPORTER_OTLP_ENDPOINT is set (the SDK is a production dependency)", async () => {
    const bodies: string[] = [];
    const receiver = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        if (req.url === "/v1/traces") bodies.push(body);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((ok) => receiver.listen(0, "127.0.0.1", ok));
    const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    const child = spawn(process.execPath, [join(dir, "dist/main.js")], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        PORT: "0",
        GATEHOUSE_DATA_DIR: join(dir, "data-traced"),
        LOG_LEVEL: "info",
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    const exited = new Promise<number | null>((ok) => child.on("exit", (code) => ok(code)));
    const url = await new Promise<string>((ok, fail) => {
      child.stdout.on("data", () => {
        const match = /"url":"(http:\/\/[^"]+)"/.exec(stdout);
        if (match?.[1]) ok(match[1]);
      });
      void exited.then((code) => fail(new Error(`dist/main.js exited ${code} before listening:\n${stdout}`)));
    });
    expect((await fetch(`${url}/livez`, { headers: { "x-request-id": "req-dist-trace" } })).status).toBe(200);
    child.kill("SIGTERM"); // the shutdown exports the buffered spans
    expect(await exited).toBe(0);
    await new Promise<void>((ok) => receiver.close(() => ok()));
    const exported = bodies.join("\n");
    expect(exported).toContain('"name":"GET /livez"');
    const line = stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.request_id === "req-dist-trace");
    expect(line?.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(exported).toContain(`"traceId":"${line?.trace_id}"`);
  }, 60_000);
});
