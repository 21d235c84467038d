import { existsSync } from "node:fs";
import { access, mkdir, readdir, readFile, realpath, rename, rm, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { runsOwnInit } from "./allowlist";
import type { PurutosConfig } from "./config";
import { createDiscovery, type Discovery } from "./discovery";
import { CommandNotAllowedError, createInvoker, PurutoNotFoundError } from "./invoker";
import { type PurutoSpec, removeDir, tempDir, testConfig, writePuruto } from "./testing";

let root: string;
const opened: Discovery[] = [];

beforeEach(async () => {
  root = await realpath(await tempDir());
});

afterEach(async () => {
  for (const d of opened.splice(0)) d.close();
  await removeDir(root);
});

function setup(overrides: Partial<PurutosConfig> = {}) {
  const config = testConfig({ ecosystemRoot: root, extraCommands: ["*"], ...overrides });
  const discovery = createDiscovery(config, { watch: false, statIntervalMs: 0 });
  opened.push(discovery);
  return { discovery, invoker: createInvoker(config, discovery) };
}

async function puruto(name: string, spec: PurutoSpec = {}) {
  return writePuruto(root, name, spec);
}

const ECHO = "#!/bin/sh\nexec cat\n";

describe("a puruto-scoped allow-list entry", () => {
  it("puruto-financial:balance runs puruto-financial's balance, never another puruto's balance (R18 F4)", async () => {
    await puruto("puruto-financial", { skills: { balance: { run: ECHO } } });
    await puruto("puruto-rogue", { skills: { balance: { run: ECHO } } });
    const { invoker } = setup({ extraCommands: ["puruto-financial:balance"] });

    const { invocation } = await invoker.invoke({ name: "puruto-financial", command: "balance" });
    expect(invocation.status).toBe("ok");
    await expect(invoker.invoke({ name: "puruto-rogue", command: "balance" })).rejects.toMatchObject({
      code: "COMMAND_NOT_ALLOWED",
    });
  });

  it("does not match a look-alike puruto or another command of the same puruto", async () => {
    await puruto("puruto-financial2", { skills: { balance: { run: ECHO } } });
    await puruto("puruto-financial", { skills: { wipe: { run: ECHO } } });
    const { invoker } = setup({ extraCommands: ["puruto-financial:balance"] });
    for (const [name, command] of [
      ["puruto-financial2", "balance"],
      ["puruto-financial", "wipe"],
    ] as const) {
      await expect(invoker.invoke({ name, command })).rejects.toMatchObject({ code: "COMMAND_NOT_ALLOWED" });
    }
  });

  it("puruto-x:init runs puruto-x's own init only", async () => {
    expect(runsOwnInit({ extraCommands: ["puruto-x:init"] }, "puruto-x")).toBe(true);
    expect(runsOwnInit({ extraCommands: ["puruto-x:init"] }, "puruto-y")).toBe(false);
  });
});

describe("allow list and lookup", () => {
  it("unknown puruto → PurutoNotFoundError 'Puruto no encontrado'", async () => {
    await puruto("puruto-a");
    const { invoker } = setup();
    await expect(invoker.invoke({ name: "puruto-zzz", command: "status" })).rejects.toMatchObject({
      name: "PurutoNotFoundError",
      message: "Puruto no encontrado",
      code: "PURUTO_NOT_FOUND",
    });
    await expect(invoker.invoke({ name: "../puruto-a", command: "status" })).rejects.toBeInstanceOf(
      PurutoNotFoundError,
    );
  });

  it.each(["deploy", "../../bin/sh", "status;rm -rf /", "$(reboot)", "STATUS", "sync"])(
    "command %j is not allowed → 'Comando no permitido'",
    async (command) => {
      // `sync` exists as a skill but the operator did not allow it
      await puruto("puruto-a", { skills: { sync: { run: ECHO } } });
      const { invoker } = setup({ extraCommands: [] });
      const attempt = invoker.invoke({ name: "puruto-a", command });
      await expect(attempt).rejects.toBeInstanceOf(CommandNotAllowedError);
      await expect(attempt).rejects.toMatchObject({ code: "COMMAND_NOT_ALLOWED" });
      await expect(attempt).rejects.toThrow(/^Comando no permitido/);
    },
  );

  it("quotes a refused command as problem details quote what a caller sent: escaped visibly, not as `?`", async () => {
    // A third spelling showed a zero-width space as `?` (and `café` as `caf?`), where every other problem detail
    // shows `\u{200b}` (src/core/policy/clip.ts): `de?ploy` could be any character, or a real `?`.
    await puruto("puruto-a");
    const { invoker } = setup();
    for (const [command, shown] of [
      ["de\u200bploy", "de\\u{200b}ploy"],
      ["caf\u00e9\u202e", "caf\u00e9\\u{202e}"],
      ["why?", "why?"],
    ]) {
      await expect(invoker.invoke({ name: "puruto-a", command: command! })).rejects.toMatchObject({
        code: "COMMAND_NOT_ALLOWED",
        message: `Comando no permitido: ${shown}`,
      });
    }
    await expect(invoker.invoke({ name: "puruto-a", command: "x".repeat(300) })).rejects.toThrow(
      `Comando no permitido: ${"x".repeat(200)}…(300 chars)`,
    );
  });

  it("answers base commands even when the puruto has no SKILL.md for them", async () => {
    await puruto("puruto-bare", { baseSkills: false });
    const { invoker } = setup();
    const answer = await invoker.invoke({ name: "puruto-bare", command: "status" });
    expect(answer.invocation.status).toBe("ok");
    expect(answer.invocation.result?.skills).toEqual({ total: 0, base_present: [] });
  });

  it("a registry entry without a folder answers TARGET_NOT_FOUND in the envelope", async () => {
    const dataDir = await tempDir("gatehouse-data-");
    await writeFile(path.join(dataDir, "registry.json"), JSON.stringify({ purutos: [{ name: "puruto-gone" }] }));
    const { invoker } = setup({ dataPath: dataDir });
    const answer = await invoker.invoke({ name: "puruto-gone", command: "status" });
    await removeDir(dataDir);
    expect(answer.invocation).toMatchObject({ status: "error", error: { code: "TARGET_NOT_FOUND" } });
  });
});

describe("envelope", () => {
  it("has the seed's shape, reuses incoming ids and measures duration", async () => {
    await puruto("puruto-data");
    const { invoker } = setup();
    const answer = await invoker.invoke({
      name: "puruto-data",
      command: "status",
      payload: { any: "payload" },
      requestId: "req-abc",
      correlationId: "corr-xyz",
    });
    expect(answer).toMatchObject({
      status: "accepted",
      target: "puruto-data",
      command: "status",
      payload: { any: "payload" },
      invocation: { request_id: "req-abc", correlation_id: "corr-xyz", status: "ok" },
    });
    expect(Number.isInteger(answer.invocation.duration_ms)).toBe(true);
    expect(answer.invocation.duration_ms).toBeGreaterThanOrEqual(0);
  });

  it("generates req-/corr- ids when absent or unusable, and payload defaults to {}", async () => {
    await puruto("puruto-data");
    const { invoker } = setup();
    const a = await invoker.invoke({ name: "puruto-data", command: "help" });
    const b = await invoker.invoke({ name: "puruto-data", command: "help", requestId: "bad id with spaces" });
    expect(a.payload).toEqual({});
    expect(a.invocation.request_id).toMatch(/^req-[0-9a-f-]{36}$/);
    expect(a.invocation.correlation_id).toMatch(/^corr-[0-9a-f-]{36}$/);
    expect(b.invocation.request_id).toMatch(/^req-/);
    expect(b.invocation.request_id).not.toBe(a.invocation.request_id);
  });
});

describe("native list / help / status / init", () => {
  it("list: every skill with description, invocable flag, runnable and allowed", async () => {
    await puruto("puruto-financial", {
      skills: {
        balance: { description: "Balance of an account", run: ECHO },
        notes: { description: "Notes", userInvocable: false },
      },
    });
    const { invoker } = setup({ extraCommands: ["balance"] });
    const { invocation } = await invoker.invoke({ name: "puruto-financial", command: "list" });
    expect(invocation.result?.commands).toEqual(["init", "help", "list", "status", "balance"]);
    expect(invocation.result?.skills).toContainEqual({
      name: "balance",
      command: "balance",
      description: "Balance of an account",
      user_invocable: true,
      runnable: true,
      allowed: true,
    });
    expect(invocation.result?.skills).toContainEqual({
      name: "notes",
      command: "notes",
      description: "Notes",
      user_invocable: false,
      runnable: false,
      allowed: false,
    });
  });

  it("help: purpose is the README's first paragraph; commands carry descriptions", async () => {
    await puruto("puruto-financial", {
      readme: "# puruto-financial\n\n[![ci](x.svg)](y)\n\nTracks balances\nof your accounts.\n\nSecond paragraph.\n",
      skills: { balance: { description: "Balance of an account", run: ECHO } },
    });
    const { invoker } = setup();
    const { invocation } = await invoker.invoke({ name: "puruto-financial", command: "help" });
    expect(invocation.result).toMatchObject({
      puruto: "puruto-financial",
      kind: "standard",
      purpose: "Tracks balances of your accounts.",
      standard_version: "0.2.0",
    });
    expect(invocation.result?.commands).toContainEqual({ command: "balance", description: "Balance of an account" });
    expect(invocation.result?.commands).toContainEqual({ command: "status", description: "Base status" });
  });

  it("status: names of set/missing variables, never their values; missing layout files", async () => {
    const dir = await puruto("puruto-cron", {
      envExample: "CRON_TZ=\nSECRET_TOKEN=\nWEBHOOK_URL=\n",
      env: "CRON_TZ=Europe/Madrid\nexport SECRET_TOKEN='s3cr3t-value-never-shown'\nWEBHOOK_URL=\n",
      claudeMd: false,
    });
    await rm(path.join(dir, ".claude/skills/list"), { recursive: true });
    const { invoker } = setup();
    const answer = await invoker.invoke({ name: "puruto-cron", command: "status" });
    expect(answer.invocation.result).toMatchObject({
      standard_version: "0.2.0",
      env: { example_present: true, env_present: true, set: ["CRON_TZ", "SECRET_TOKEN"], missing: ["WEBHOOK_URL"] },
      layout: { complete: false, missing: ["CLAUDE.md or agent.md", ".claude/skills/list/SKILL.md"] },
    });
    const text = JSON.stringify(answer);
    expect(text).not.toContain("s3cr3t-value-never-shown");
    expect(text).not.toContain("Europe/Madrid");
  });

  it("init: creates .env from .env.example once and never overwrites it", async () => {
    const dir = await puruto("puruto-a", { envExample: "A=\nB=default\n" });
    const { invoker } = setup();

    const first = await invoker.invoke({ name: "puruto-a", command: "init" });
    expect(first.invocation.result).toMatchObject({ created: [".env"], kept: [], env: { set: ["B"], missing: ["A"] } });
    expect(await readFile(path.join(dir, ".env"), "utf8")).toBe("A=\nB=default\n");

    await writeFile(path.join(dir, ".env"), "A=mine\n");
    const second = await invoker.invoke({ name: "puruto-a", command: "init" });
    expect(second.invocation.result).toMatchObject({ created: [], kept: [".env"] });
    expect(await readFile(path.join(dir, ".env"), "utf8")).toBe("A=mine\n");
  });

  it("init: runs the puruto's own init/run script when the operator allowed init (or *)", async () => {
    await puruto("puruto-a", { skills: { init: { run: "#!/bin/sh\necho '{\"initialised\":true}'\n" } } });
    for (const extraCommands of [["*"], ["init"]]) {
      const { invoker } = setup({ extraCommands });
      const { invocation } = await invoker.invoke({ name: "puruto-a", command: "init" });
      expect(invocation.result).toEqual({ initialised: true });
    }
  });

  it("init: an operator who allowed nothing (or other skills only) runs no puruto code: init is native", async () => {
    const canary = path.join(root, "init-ran");
    await puruto("puruto-a", {
      envExample: "A=\n",
      skills: { init: { run: `#!/bin/sh\ntouch ${canary}\necho '{"initialised":true}'\n` } },
    });
    for (const extraCommands of [[], ["balance"], ["INIT"]]) {
      const { invoker } = setup({ extraCommands });
      const { invocation } = await invoker.invoke({ name: "puruto-a", command: "init" });
      expect(invocation.status).toBe("ok");
      expect(invocation.result).toHaveProperty("created");
      expect(invocation.result).not.toHaveProperty("initialised");
    }
    await expect(access(canary)).rejects.toThrow();
  });
});

describe("running a skill's run script", () => {
  it("passes the payload as data on stdin: shell syntax in it is never executed", async () => {
    const canary = path.join(root, "pwned");
    await puruto("puruto-a", { skills: { echo: { run: ECHO } } });
    const { invoker } = setup();
    const payload = {
      a: `$(touch ${canary})`,
      b: `; touch ${canary}`,
      c: `\`touch ${canary}\``,
      d: `' && touch ${canary} #`,
      nested: { e: `| touch ${canary}` },
    };
    const { invocation } = await invoker.invoke({ name: "puruto-a", command: "echo", payload });
    expect(invocation).toMatchObject({ status: "ok", result: payload });
    await expect(access(canary)).rejects.toThrow();
  });

  it("runs with cwd = the puruto and a scrubbed env: no gateway secrets, PURUTO_* metadata only", async () => {
    const dir = await puruto("puruto-a", {
      skills: {
        probe: {
          run: `#!/usr/bin/env node
const env = process.env;
process.stdout.write(JSON.stringify({ cwd: process.cwd(), keys: Object.keys(env).sort(), rid: env.PURUTO_REQUEST_ID, target: env.PURUTO_TARGET }));
`,
        },
      },
    });
    process.env.PURUTO_GATEWAY_API_KEY = "gateway-secret";
    process.env.SOME_DB_PASSWORD = "db-secret";
    try {
      const { invoker } = setup();
      const { invocation } = await invoker.invoke({ name: "puruto-a", command: "probe", requestId: "req-1" });
      expect(invocation.status).toBe("ok");
      expect(invocation.result?.cwd).toBe(dir);
      expect(invocation.result?.rid).toBe("req-1");
      expect(invocation.result?.target).toBe("puruto-a");
      const keys = invocation.result?.keys as string[];
      expect(keys).not.toContain("PURUTO_GATEWAY_API_KEY");
      expect(keys).not.toContain("SOME_DB_PASSWORD");
      expect(keys.every((k) => ["PATH", "HOME", "LANG"].includes(k) || k.startsWith("PURUTO_"))).toBe(true);
    } finally {
      delete process.env.PURUTO_GATEWAY_API_KEY;
      delete process.env.SOME_DB_PASSWORD;
    }
  });

  it("maps non-JSON output to INVALID_RESPONSE and a non-zero exit to COMMAND_FAILED (stderr stays out)", async () => {
    await puruto("puruto-a", {
      skills: {
        text: { run: "#!/bin/sh\necho 'hello, not json'\n" },
        array: { run: "#!/bin/sh\necho '[1,2]'\n" },
        fail: { run: "#!/bin/sh\necho 'password=hunter2' >&2\nexit 3\n" },
      },
    });
    const { invoker } = setup();
    const text = await invoker.invoke({ name: "puruto-a", command: "text" });
    const array = await invoker.invoke({ name: "puruto-a", command: "array" });
    const fail = await invoker.invoke({ name: "puruto-a", command: "fail" });

    expect(text.invocation).toMatchObject({
      status: "error",
      error: { code: "INVALID_RESPONSE", details: { output: "hello, not json\n", truncated: false } },
    });
    expect(array.invocation.error?.code).toBe("INVALID_RESPONSE");
    expect(fail.invocation).toMatchObject({
      status: "error",
      error: { code: "COMMAND_FAILED", details: { exit_code: 3 } },
    });
    expect(JSON.stringify(fail)).not.toContain("hunter2");
  });

  it("a failing skill that prints a JSON object on stdout says why: its `error` in the message, the object in details", async () => {
    await puruto("puruto-a", {
      skills: {
        explain: {
          run: '#!/bin/sh\necho \'secret=hunter2\' >&2\necho \'{"error":"unknown account: x","accounts":["main"]}\'\nexit 2\n',
        },
      },
    });
    const { invoker } = setup();
    const answer = await invoker.invoke({ name: "puruto-a", command: "explain" });
    expect(answer.invocation.error).toEqual({
      code: "COMMAND_FAILED",
      message: "explain exited with code 2: unknown account: x",
      details: { exit_code: 2, signal: null, output: { error: "unknown account: x", accounts: ["main"] } },
    });
    expect(JSON.stringify(answer)).not.toContain("hunter2");
  });

  it("a JSON object nested 100k deep or holding 1e309 is INVALID_RESPONSE, and the answer can still be sent", async () => {
    const deep = "#!/usr/bin/env node\nprocess.stdout.write('{\"a\":' + '['.repeat(1e5) + ']'.repeat(1e5) + '}')\n";
    await puruto("puruto-a", {
      skills: {
        deep: { run: deep },
        huge: { run: "#!/bin/sh\necho '{\"amount\": 1e309}'\n" },
        deepfail: { run: `${deep}process.exitCode = 2\n` },
      },
    });
    const { invoker } = setup();
    for (const command of ["deep", "huge"]) {
      const answer = await invoker.invoke({ name: "puruto-a", command });
      expect(answer.invocation.status).toBe("error");
      expect(answer.invocation.error?.code).toBe("INVALID_RESPONSE");
      // What the HTTP reply and the MCP result do with it: it used to overflow the stack (a 500 after the run).
      expect(() => JSON.stringify(answer)).not.toThrow();
    }
    const huge = await invoker.invoke({ name: "puruto-a", command: "huge" });
    expect(huge.invocation.error?.message).toMatch(/\/amount: number is out of range/);
    const failed = await invoker.invoke({ name: "puruto-a", command: "deepfail" });
    expect(failed.invocation.error).toMatchObject({ code: "COMMAND_FAILED", details: { exit_code: 2 } });
    expect(failed.invocation.error?.details).not.toHaveProperty("output");
    expect(() => JSON.stringify(failed)).not.toThrow();
  });

  it("an answer holding a __proto__ key (escaped or not) is INVALID_RESPONSE, as a request body holding one is refused", async () => {
    await puruto("puruto-a", {
      skills: {
        proto: { run: `#!/bin/sh\necho '{"ok":1,"nested":{"__proto__":{"polluted":1}}}'\n` },
        escaped: { run: `#!/bin/sh\necho '{"\\u005f_proto__":{"polluted":1}}'\n` },
        plain: { run: `#!/bin/sh\necho '{"proto":1,"constructor":{"x":1}}'\n` },
      },
    });
    const { invoker } = setup();
    for (const command of ["proto", "escaped"]) {
      const answer = await invoker.invoke({ name: "puruto-a", command });
      expect(answer.invocation.error, command).toMatchObject({ code: "INVALID_RESPONSE" });
      expect(answer.invocation.error?.message).toMatch(/__proto__/u);
      expect(answer.invocation).not.toHaveProperty("result");
    }
    // Control: keys that only look alike are an answer like any other.
    const plain = await invoker.invoke({ name: "puruto-a", command: "plain" });
    expect(plain.invocation).toMatchObject({ status: "ok", result: { proto: 1, constructor: { x: 1 } } });
  });

  it("kills a child that never exits at the timeout, with everything it started", async () => {
    // Found on the host by a marker: in the command's own PID namespace its $$ and group ids are not ours.
    const marker = `gh-hang-${path.basename(root)}`;
    await puruto("puruto-a", {
      skills: {
        hang: { run: `#!/bin/sh\nsh -c "sleep 1000; :" ${marker} &\nsh -c "sleep 1000; :" ${marker}\n` },
      },
    });
    const { invoker } = setup({ commandTimeoutMs: 300 });

    const started = performance.now();
    const { invocation } = await invoker.invoke({ name: "puruto-a", command: "hang" });
    const elapsed = performance.now() - started;

    expect(invocation).toMatchObject({ status: "error", error: { code: "TIMEOUT", details: { timeout_ms: 300 } } });
    expect(elapsed).toBeLessThan(3000);
    expect(invocation.duration_ms).toBeGreaterThanOrEqual(290);
    await new Promise((r) => setTimeout(r, 100));
    const tree = await processesMarked(marker);
    // Nothing of the command still runs, and none of it is a zombie of ours (Node reaps its direct child).
    // Killed grandchildren are re-parented to pid 1; reaping them is init's job (this sandbox's init does not).
    expect(tree.filter((p) => p.state !== "Z")).toEqual([]);
    expect(tree.filter((p) => p.ppid === process.pid)).toEqual([]);
  });

  it("caps a child that prints 100 MB: killed, truncated, fast", async () => {
    await puruto("puruto-a", { skills: { flood: { run: "#!/bin/sh\nexec head -c 104857600 /dev/zero\n" } } });
    const { invoker } = setup({ commandOutputLimit: 1024 * 1024 });

    const started = performance.now();
    const { invocation } = await invoker.invoke({ name: "puruto-a", command: "flood" });

    expect(performance.now() - started).toBeLessThan(3000);
    expect(invocation).toMatchObject({
      status: "error",
      error: { code: "INVALID_RESPONSE", details: { truncated: true, limit_bytes: 1024 * 1024 } },
    });
    expect(String(invocation.error?.details?.output).length).toBeLessThanOrEqual(2049);
  });

  it("runs 50 concurrent invocations, each with its own payload and ids", async () => {
    await puruto("puruto-a", { skills: { echo: { run: ECHO } } });
    const { invoker } = setup({ maxConcurrentCommands: 8 });

    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => invoker.invoke({ name: "puruto-a", command: "echo", payload: { i } })),
    );

    expect(answers.map((a) => a.invocation.result)).toEqual(Array.from({ length: 50 }, (_, i) => ({ i })));
    expect(answers.every((a) => a.invocation.status === "ok")).toBe(true);
    expect(new Set(answers.map((a) => a.invocation.request_id)).size).toBe(50);
  });

  it("a call that waited for a slot runs what the folder holds when it starts: what was swapped meanwhile is refused", async () => {
    const marker = (where: string) => `#!/bin/sh\necho '{"${where}":true}'\n`;
    // `hold` keeps the only slot until the test opens its gate (a file), whatever the machine's load; it says it
    // holds it (another file) so the victim is called only then: called before, under load it could take the slot
    // first and run the script as it still was (an "ok" that proved nothing).
    const gate = path.join(root, "gate");
    const holding = path.join(root, "holding");
    const hold = `#!/bin/sh\ntouch '${holding}'\nwhile [ ! -e '${gate}' ]; do sleep 0.02; done\necho '{}'\n`;
    const holdTheSlot = async () => {
      await rm(holding, { force: true });
      const held = invoker.invoke({ name: "puruto-a", command: "hold" });
      await expect.poll(() => existsSync(holding), { timeout: 10_000 }).toBe(true);
      return { held }; // wrapped: an async function returning the promise itself would wait for it
    };
    await puruto("puruto-a", { skills: { hold: { run: hold }, victim: { run: marker("inside") } } });
    const outside = path.join(root, "outside");
    await mkdir(outside);
    await writeFile(path.join(outside, "run"), marker("outside"), { mode: 0o755 });
    const { discovery, invoker } = setup({ maxConcurrentCommands: 1 });
    await discovery.list();
    // Long enough for a call's checks before the queue.
    const queued = () => new Promise((resolve) => setTimeout(resolve, 300));

    // The script swapped for a symlink out of the puruto while its call waits behind `hold`.
    const run = path.join(root, "puruto-a", ".claude", "skills", "victim", "run");
    const { held } = await holdTheSlot();
    const victim = invoker.invoke({ name: "puruto-a", command: "victim" });
    await queued();
    await rm(run);
    await symlink(path.join(outside, "run"), run);
    await writeFile(gate, "");
    expect((await held).invocation.status).toBe("ok");
    expect((await victim).invocation).toMatchObject({ status: "error", error: { code: "DENIED" } });

    // The whole folder swapped for a symlink to another folder while the call waits.
    await rm(run);
    await writeFile(run, marker("inside"), { mode: 0o755 });
    const folder = path.join(root, "puruto-a");
    await rm(gate);
    const { held: held2 } = await holdTheSlot();
    const victim2 = invoker.invoke({ name: "puruto-a", command: "victim" });
    await queued();
    await rename(folder, path.join(root, "moved-away"));
    await mkdir(path.join(outside, ".claude", "skills", "victim"), { recursive: true });
    await writeFile(path.join(outside, ".claude", "skills", "victim", "run"), marker("outside"), { mode: 0o755 });
    await symlink(outside, folder);
    await writeFile(gate, "");
    await held2;
    const swapped = (await victim2).invocation;
    expect(swapped.status).toBe("error");
    expect(JSON.stringify(swapped)).not.toContain("outside");
  });

  it("kills the command when the client goes away", async () => {
    await puruto("puruto-a", { skills: { hang: { run: "#!/bin/sh\nsleep 1000\n" } } });
    const { invoker } = setup();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);

    const started = performance.now();
    const { invocation } = await invoker.invoke({ name: "puruto-a", command: "hang", signal: controller.signal });

    expect(performance.now() - started).toBeLessThan(3000);
    expect(invocation.error?.code).toBe("IPC_ERROR");
  });
});

describe("shutdown", () => {
  it("close() kills every running command", async () => {
    await puruto("puruto-a", { skills: { hang: { run: "#!/bin/sh\nsleep 1000\n" } } });
    const { invoker } = setup({ commandTimeoutMs: 20_000 });
    const running = Promise.all([1, 2, 3].map(() => invoker.invoke({ name: "puruto-a", command: "hang" })));
    await new Promise((r) => setTimeout(r, 300));

    const started = performance.now();
    invoker.close();
    const answers = await running;

    expect(performance.now() - started).toBeLessThan(2000);
    expect(answers.map((a) => a.invocation.error?.code)).toEqual([
      "COMMAND_FAILED",
      "COMMAND_FAILED",
      "COMMAND_FAILED",
    ]);
    expect(answers[0]?.invocation.error?.details).toMatchObject({ signal: "SIGKILL" });
  });
});

describe("agent command for skills without run", () => {
  it("sends the skill's instructions and the payload on stdin; argv is the operator's", async () => {
    await puruto("puruto-a", {
      skills: { summarize: { description: "Summarise notes", body: "Summarise MARKER-42 for the user." } },
    });
    const agent = path.join(root, "fake-agent");
    await writeFile(
      agent,
      `#!/usr/bin/env node
const input = require("node:fs").readFileSync(0, "utf8");
process.stdout.write(JSON.stringify({ argv: process.argv.slice(2), sawSkill: input.includes("MARKER-42"), sawPayload: input.includes('"topic":"q1"'), secret: process.env.AGENT_TOKEN ?? null, other: process.env.OTHER_SECRET ?? null }));
`,
      { mode: 0o755 },
    );
    await writeFile(path.join(root, "package.json"), '{"type":"commonjs"}');
    process.env.AGENT_TOKEN = "agent-own-key";
    process.env.OTHER_SECRET = "nope";
    try {
      const { invoker, discovery } = setup({ agentCommand: [agent, "--print"], agentEnv: ["AGENT_TOKEN"] });
      expect((await discovery.get("puruto-a"))?.commands).toContain("summarize");
      const { invocation } = await invoker.invoke({ name: "puruto-a", command: "summarize", payload: { topic: "q1" } });
      expect(invocation.result).toEqual({
        argv: ["--print"],
        sawSkill: true,
        sawPayload: true,
        secret: "agent-own-key",
        other: null,
      });
    } finally {
      delete process.env.AGENT_TOKEN;
      delete process.env.OTHER_SECRET;
    }
  });

  it("wraps an agent's plain-text answer as {output}", async () => {
    await puruto("puruto-a", { skills: { chat: {} } });
    const agent = path.join(root, "fake-agent.sh");
    await writeFile(agent, "#!/bin/sh\ncat > /dev/null\necho 'All done.'\n", { mode: 0o755 });
    const { invoker } = setup({ agentCommand: [agent] });
    const { invocation } = await invoker.invoke({ name: "puruto-a", command: "chat" });
    expect(invocation.result).toEqual({ output: "All done." });
  });
});

/** Processes whose process group is `pgid`, from /proc. */
async function processesMarked(marker: string): Promise<{ pid: number; state: string; ppid: number }[]> {
  const found: { pid: number; state: string; ppid: number }[] = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    if (cmdline.split("\0").filter(Boolean).at(-1) !== marker) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => null);
    if (stat === null) continue;
    // pid (comm) state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    found.push({ pid: Number(entry), state: fields[0] ?? "", ppid: Number(fields[1]) });
  }
  return found;
}
