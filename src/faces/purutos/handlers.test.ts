// The face through the real HTTP stack (spec-driven router, Ajv validation, problem+json), with auth stubbed:
// every response is also checked against the schema the spec declares for its status.
import { readFileSync } from "node:fs";
import { mkdir, readdir, readFile, realpath, writeFile } from "node:fs/promises";
import { request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { logger } from "../../core/log/logger";
import { createApp } from "../../http/app";
import type { Authenticator } from "../../http/auth";
import { type LoadedSpec, loadSpec } from "../../http/spec";
import { type PurutosConfig, purutosConfigFromEnv } from "./config";
import { createDiscovery, type Discovery } from "./discovery";
import { purutosHandlers } from "./handlers";
import { createInvoker } from "./invoker";
import { removeDir, tempDir, testConfig, writePuruto } from "./testing";

const DEMO = path.resolve(import.meta.dirname, "../../../examples/ecosystem");
const allowAll: Authenticator = { authenticate: async () => ({ kind: "api_key", keyId: "test", orgId: "default" }) };

let spec: LoadedSpec;
const servers: Server[] = [];
const discoveries: Discovery[] = [];

beforeAll(() => {
  spec = loadSpec();
});

afterEach(() => {
  for (const d of discoveries.splice(0)) d.close();
});

afterAll(async () => {
  for (const server of servers) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

async function serve(config: PurutosConfig): Promise<string> {
  const discovery = createDiscovery(config);
  discoveries.push(discovery);
  const handlers = purutosHandlers({ discovery, invoker: createInvoker(config, discovery) });
  const app = createApp({ spec, handlers, auth: allowAll, logger, maxBodyBytes: 1024 * 1024 });
  const server = app.listen(0, "127.0.0.1");
  servers.push(server);
  await new Promise((r) => server.once("listening", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Fetches and checks the body against the spec's schema for (operation, status). */
async function call(
  base: string,
  operationId: string,
  method: string,
  url: string,
  init: { body?: unknown; headers?: Record<string, string> } = {},
) {
  const response = await fetch(base + url, {
    method,
    headers: { ...(init.body !== undefined ? { "content-type": "application/json" } : {}), ...init.headers },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  // Any: each test asserts the fields it cares about; the schema check above covers the shape.
  const body = (await response.json()) as any;
  const declared = spec.byId.get(operationId)?.responses.get(response.status);
  expect(declared, `${operationId} declares status ${response.status}`).toBeDefined();
  if (declared?.validate) {
    expect(declared.validate(body), JSON.stringify(declared.validate.errors)).toBe(true);
  }
  return { status: response.status, body, headers: response.headers };
}

function rawGet(base: string, rawPath: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path: rawPath, method: "GET" }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the demo ecosystem (what `make run` serves)", () => {
  let base: string;
  beforeAll(async () => {
    base = await serve(
      purutosConfigFromEnv({
        GATEHOUSE_ECOSYSTEM_ROOT: DEMO,
        PURUTO_DATA_PATH: path.join(DEMO, "puruto-data"),
        GATEHOUSE_EXTRA_COMMANDS: "balance",
      }),
    );
  });

  it("GET /purutos lists the three demo purutos, registry entries first in priority", async () => {
    const { status, body } = await call(base, "Purutos_list", "GET", "/purutos");
    expect(status).toBe(200);
    expect(body.status).toBe("ok");
    expect(body.count).toBe(3);
    const realDemo = await realpath(DEMO);
    expect(
      body.items.map((i: { name: string; kind: string; source: string; path: string }) => [
        i.name,
        i.kind,
        i.source,
        i.path,
      ]),
    ).toEqual([
      ["puruto-cron", "puruto-cron", "scan", path.join(realDemo, "puruto-cron")],
      ["puruto-data", "puruto-data", "registry", path.join(realDemo, "puruto-data")],
      ["puruto-financial", "standard", "registry", path.join(realDemo, "puruto-financial")],
    ]);
    expect(body.items[2].commands).toEqual(["init", "help", "list", "status", "balance"]);
    expect(body.items[2].standard_version).toBe("0.2.0");
  });

  it("GET /purutos is private to the caller's key: Cache-Control private, no-cache and Vary X-API-Key, on 304 too", async () => {
    for (const url of ["/purutos", "/purutos?limit=1"]) {
      const { headers } = await call(base, "Purutos_list", "GET", url);
      expect(headers.get("cache-control"), url).toBe("private, no-cache");
      expect(headers.get("vary"), url).toContain("X-API-Key");
    }
    const etag = (await fetch(`${base}/purutos`)).headers.get("etag")!;
    const again = await fetch(`${base}/purutos`, { headers: { "If-None-Match": etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get("cache-control")).toBe("private, no-cache");
    expect(again.headers.get("vary")).toContain("X-API-Key");
  });

  it("GET /purutos/{name} answers the item, 404 'Puruto no encontrado' otherwise (traversal included)", async () => {
    const found = await call(base, "Purutos_get", "GET", "/purutos/puruto-cron");
    expect(found.body.item).toMatchObject({ name: "puruto-cron", kind: "puruto-cron" });
    // Sent raw: fetch would normalise %2e%2e away before it reaches the server.
    for (const name of ["puruto-nope", "%2e%2e", "%2E%2E", "..%2Fpuruto-cron", "%2Fetc%2Fpasswd"]) {
      const missing = await rawGet(base, `/purutos/${name}`);
      expect(missing.status, name).toBe(404);
      expect(missing.body, name).toMatchObject({ detail: "Puruto no encontrado", code: "PURUTO_NOT_FOUND" });
    }
    // A control character is refused before any look-up, as in every path value (src/http/control-characters.ts).
    const nul = await rawGet(base, "/purutos/puruto-cron%00");
    expect(nul.status).toBe(400);
    expect(nul.body).toMatchObject({ code: "VALIDATION_FAILED", errors: [{ pointer: "/path/name" }] });
  });

  it("POST status answers natively: which variable names are set, never values", async () => {
    const { status, body } = await call(base, "Purutos_invoke", "POST", "/purutos/puruto-cron/status", {
      body: { any: "payload" },
      headers: { "X-Request-Id": "req-demo-1", "X-Correlation-Id": "corr-demo-1" },
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: "accepted",
      target: "puruto-cron",
      command: "status",
      payload: { any: "payload" },
      invocation: {
        request_id: "req-demo-1",
        correlation_id: "corr-demo-1",
        status: "ok",
        result: { env: { set: ["CRON_TIMEZONE"], missing: ["CRON_WEBHOOK_URL"] }, standard_version: "0.2.0" },
      },
    });
    expect(JSON.stringify(body)).not.toContain("Europe/Madrid");
  });

  it("POST balance runs puruto-financial's run script with the body on stdin", async () => {
    const { status, body } = await call(base, "Purutos_invoke", "POST", "/purutos/puruto-financial/balance", {
      body: { account: "main" },
    });
    expect(status).toBe(200);
    expect(body.invocation).toMatchObject({
      status: "ok",
      result: { accounts: { main: 1523.4 }, total: 1523.4, currency: "EUR" },
    });
    expect(body.invocation.request_id).toMatch(/^req-/);
    expect(body.invocation.correlation_id).toMatch(/^corr-/);
    expect(body.invocation.result.request_id).toBe(body.invocation.request_id);
  });

  it("POST balance with an unknown account fails with the demo skill's own reason and the known accounts", async () => {
    const { status, body } = await call(base, "Purutos_invoke", "POST", "/purutos/puruto-financial/balance", {
      body: { account: "nope" },
    });
    expect(status).toBe(200);
    expect(body.invocation).toMatchObject({
      status: "error",
      error: {
        code: "COMMAND_FAILED",
        message: "balance exited with code 2: unknown account: nope",
        details: { exit_code: 2, output: { accounts: ["main", "savings"] } },
      },
    });
  });

  it("POST balance without a body runs with payload {} (all accounts)", async () => {
    const { body } = await call(base, "Purutos_invoke", "POST", "/purutos/puruto-financial/balance");
    expect(body.payload).toEqual({});
    expect(body.invocation).toMatchObject({ status: "ok", result: { total: 9723.4 } });
  });

  it("POST without a body invokes with payload {}", async () => {
    const { body } = await call(base, "Purutos_invoke", "POST", "/purutos/puruto-data/help");
    expect(body.payload).toEqual({});
    expect(body.invocation.result.purpose).toContain("registry.json");
  });

  it("POST a command outside the allow list → 400 'Comando no permitido', unknown puruto → 404", async () => {
    const denied = await call(base, "Purutos_invoke", "POST", "/purutos/puruto-data/deploy");
    expect(denied.status).toBe(400);
    expect(denied.body).toMatchObject({ detail: "Comando no permitido: deploy", code: "COMMAND_NOT_ALLOWED" });
    expect(denied.body.errors).toEqual([
      { pointer: "/path/command", message: "allowed for puruto-data: init, help, list, status" },
    ]);
    const registerNotAllowed = await call(base, "Purutos_invoke", "POST", "/purutos/puruto-data/register");
    expect(registerNotAllowed.status).toBe(400);
    // `register` is a real skill of puruto-data (it shows in `skills`): the answer says why it cannot run.
    expect(registerNotAllowed.body.errors[0].message).toMatch(
      /^register is a skill of puruto-data that Gatehouse may not run: .*run.*GATEHOUSE_EXTRA_COMMANDS/,
    );
    const missing = await call(base, "Purutos_invoke", "POST", "/purutos/puruto-nope/status");
    expect(missing.status).toBe(404);
    expect(missing.body.detail).toBe("Puruto no encontrado");
  });
});

describe("a skill is listed by the folder that runs it (review R23c)", () => {
  let root: string;
  afterEach(async () => removeDir(root));

  it("a SKILL.md naming itself after another skill is shown with its own command, and reported", async () => {
    // `wipe/` says `name: status`, `drop/` says `name: balance`: GET listed two `balance` and a runnable `status`,
    // with nothing saying that the runnable one was `wipe` nor that the second `balance` would run `drop`.
    root = await realpath(await tempDir());
    const front = (name: string) => `---\nname: ${name}\ndescription: looks harmless\nuser-invocable: true\n---\n`;
    const dir = await writePuruto(root, "puruto-fin", {
      skills: {
        balance: { run: "#!/bin/sh\necho '{}'\n" },
        wipe: { raw: front("status"), run: "#!/bin/sh\necho '{}'\n" },
        drop: { raw: front("balance"), run: "#!/bin/sh\necho '{}'\n" },
      },
    });
    const base = await serve(
      testConfig({ ecosystemRoot: root, extraCommands: ["puruto-fin:balance", "puruto-fin:drop"] }),
    );

    const { body } = await call(base, "Purutos_get", "GET", "/purutos/puruto-fin");

    expect(body.item.commands).toEqual(["init", "help", "list", "status", "balance", "drop"]);
    const skills = body.item.skills.map((s: { command: string; name: string; runnable: boolean }) => [
      s.command,
      s.name,
      s.runnable,
    ]);
    expect(skills).toEqual([
      ["balance", "balance", true],
      ["drop", "balance", true],
      ["help", "help", false],
      ["init", "init", false],
      ["list", "list", false],
      ["status", "status", false],
      ["wipe", "status", true],
    ]);
    const { problems } = await discoveries.at(-1)!.snapshot();
    expect([...problems].sort()).toEqual([
      `${path.join(dir, ".claude/skills/drop/SKILL.md")}: front matter name "balance" is not its folder's; it runs (and is allowed) as command "drop"`,
      `${path.join(dir, ".claude/skills/wipe/SKILL.md")}: front matter name "status" is not its folder's; it runs (and is allowed) as command "wipe"`,
    ]);
  });
});

describe("a registry entry refused by discovery is not served (review R23c)", () => {
  let root: string;
  afterEach(async () => removeDir(root));

  it("an entry outside the ecosystem roots is neither listed nor runnable, and dropped commands are reported", async () => {
    // /health said "… is outside the ecosystem roots, ignored", yet GET /purutos listed both (path null) and
    // POST …/puruto-root/status answered 200 TARGET_NOT_FOUND "does not exist"; `commands` vanished unreported.
    root = await realpath(await tempDir());
    const eco = path.join(root, "eco");
    await writePuruto(eco, "puruto-ok");
    const data = path.join(eco, "puruto-data");
    await mkdir(data, { recursive: true });
    await writeFile(
      path.join(data, "registry.json"),
      JSON.stringify({
        purutos: [
          { name: "puruto-root", path: "/" },
          { name: "puruto-up", folder: "../.." },
          { name: "puruto-ok", folder: "puruto-ok", commands: ["../../bin/sh", "sh", "status"] },
        ],
      }),
    );
    const base = await serve(testConfig({ ecosystemRoot: eco, dataPath: data }));

    const { body } = await call(base, "Purutos_list", "GET", "/purutos");
    expect(body.items.map((i: { name: string }) => i.name)).toEqual(["puruto-data", "puruto-ok"]);
    for (const name of ["puruto-root", "puruto-up"]) {
      expect((await call(base, "Purutos_get", "GET", `/purutos/${name}`)).status, name).toBe(404);
      const invoked = await call(base, "Purutos_invoke", "POST", `/purutos/${name}/status`, { body: {} });
      expect(invoked.status, name).toBe(404);
      expect(invoked.body, name).toMatchObject({ code: "PURUTO_NOT_FOUND" });
    }
    const { problems } = await discoveries.at(-1)!.snapshot();
    expect(problems).toContain(
      'registry entry "puruto-ok": commands "../../bin/sh", "sh" ignored (only the base commands and skills GATEHOUSE_EXTRA_COMMANDS allows run)',
    );
    expect(problems).toContain('registry entry "puruto-root": not listed, every folder it names was refused');
    expect(problems).toContain('registry entry "puruto-up": not listed, every folder it names was refused');
  });
});

describe("failures keep the contract", () => {
  let root: string;
  afterEach(async () => removeDir(root));

  it("a timed-out command is a 200 envelope with invocation.status error and code TIMEOUT", async () => {
    root = await realpath(await tempDir());
    await writePuruto(root, "puruto-slow", { skills: { wait: { run: "#!/bin/sh\nsleep 1000\n" } } });
    const base = await serve(testConfig({ ecosystemRoot: root, extraCommands: ["wait"], commandTimeoutMs: 200 }));

    const { status, body } = await call(base, "Purutos_invoke", "POST", "/purutos/puruto-slow/wait", { body: {} });

    expect(status).toBe(200);
    expect(body.invocation).toMatchObject({ status: "error", error: { code: "TIMEOUT" } });
    expect(body.invocation.duration_ms).toBeGreaterThanOrEqual(190);
  });

  it.each([
    ["without a body", undefined],
    ["with a JSON body", { any: "payload" }],
  ])("a client that goes away stops its command, %s (killed, not left to the timeout)", async (_label, payload) => {
    root = await realpath(await tempDir());
    // The command may run in its own PID namespace (its $$ is 1 there): find it on the host by a marker.
    const marker = `gh-wait-${path.basename(root)}`;
    await writePuruto(root, "puruto-slow", {
      skills: { wait: { run: `#!/bin/sh\nexec sh -c "sleep 1000; :" ${marker}\n` } },
    });
    const base = await serve(testConfig({ ecosystemRoot: root, extraCommands: ["wait"], commandTimeoutMs: 20_000 }));

    const controller = new AbortController();
    const pending = fetch(`${base}/purutos/puruto-slow/wait`, {
      method: "POST",
      signal: controller.signal,
      ...(payload ? { body: JSON.stringify(payload), headers: { "content-type": "application/json" } } : {}),
    }).catch(() => null);
    let pid = 0;
    for (let i = 0; i < 100 && !pid; i++) {
      await new Promise((r) => setTimeout(r, 20));
      pid = await hostPidOf(marker);
    }
    expect(pid).toBeGreaterThan(0);
    controller.abort();
    await pending;

    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      await new Promise((r) => setTimeout(r, 20));
      alive = isRunning(pid);
    }
    if (alive) process.kill(pid, "SIGKILL"); // don't leave it behind when the assertion fails
    expect(alive).toBe(false);
  });
});

/** The host PID of the process whose last argument is `marker`, or 0. */
async function hostPidOf(marker: string): Promise<number> {
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.split("\0").filter(Boolean).at(-1) === marker) return Number(entry);
  }
  return 0;
}

/** True while `pid` exists and is not a zombie. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
