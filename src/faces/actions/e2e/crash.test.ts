// Crash safety of the write-ahead audit log: a Gatehouse child process under a load of executes is killed with
// SIGKILL, restarted on the same data directory, and then
//   - the org's chain verifies (no torn or forked record),
//   - every execute that got a 2xx has its intent AND outcome records,
//   - every call that reached the connector's receiver has an intent record (no side effect without a record),
//   - idempotency keys answered before the crash are still answered after it.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_KEY, ECOSYSTEM, ORG_ID } from "../../../../contract-tests/fixtures";
import {
  agent,
  executeBody,
  exportedRecords,
  operator,
  registerManifest,
  startReceiver,
  type Caller,
  type Receiver,
} from "./helpers";

const CHILD = resolve(import.meta.dirname, "child-gatehouse.ts");
const WORKERS = 8;
const MAX_REQUESTS_PER_WORKER = 60;
/** SIGKILL once this many executes have been answered 2xx, while the workers keep sending. */
const KILL_AFTER_OK = 60;
const UAPK = "load-bot";

let dataDir: string;
let receiver: Receiver;
const children: ChildProcess[] = [];

function startChild(): Promise<Caller & { child: ChildProcess }> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD], {
    cwd: resolve(import.meta.dirname, "../../../.."),
    env: {
      ...process.env,
      GATEHOUSE_DATA_DIR: dataDir,
      PORT: "0",
      PURUTO_GATEWAY_API_KEY: API_KEY,
      GATEHOUSE_DEFAULT_ORG: ORG_ID,
      GATEHOUSE_ECOSYSTEM_ROOT: ECOSYSTEM,
      PURUTO_DATA_PATH: join(ECOSYSTEM, "puruto-data"),
      LOG_LEVEL: "silent",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`child did not start in 30 s: ${stderr}`)), 30_000);
    child.once("exit", (code) => fail(new Error(`child exited (${code}) before listening: ${stderr}`)));
    createInterface({ input: child.stdout! }).once("line", (line) => {
      clearTimeout(timer);
      ok({ ...(JSON.parse(line) as Caller), child });
    });
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((ok) => {
    if (child.exitCode !== null || child.signalCode !== null) return ok();
    child.once("exit", () => ok());
    child.kill("SIGKILL");
  });
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "gatehouse-crash-"));
  receiver = await startReceiver({ delayMs: 15 });
});

afterAll(async () => {
  await Promise.all(children.map(killed));
  await receiver?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("crash safety", () => {
  it("SIGKILL under load, restart on the same data dir: the chain verifies and every 2xx execute has its records", {
    timeout: 120_000,
  }, async () => {
    const first = await startChild();
    await registerManifest(first, {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Load" },
      capabilities: ["job:run"],
      constraints: { max_actions_per_hour: 100_000 },
      tools: {
        "job:run": {
          connector: {
            type: "webhook",
            url: `${receiver.url}/slow/job`,
            allowed_hosts: ["127.0.0.1"],
            allow_private: true,
          },
        },
      },
    });

    const answered: { n: number; interaction_id: string; key?: string | undefined; body: Record<string, unknown> }[] =
      [];
    let next = 0;
    let killing: Promise<void> | undefined;
    const worker = async () => {
      for (let i = 0; i < MAX_REQUESTS_PER_WORKER; i++) {
        const n = next++;
        const key = n % 2 === 0 ? `job-${n}` : undefined; // half of them with an idempotency key
        const body = executeBody(
          UAPK,
          { type: "job", tool: "run", params: { n } },
          key ? { idempotency_key: key } : {},
        );
        let reply;
        try {
          reply = await agent(first).post("/api/v1/gateway/execute", body);
        } catch {
          return; // the gateway is gone
        }
        if (reply.status >= 200 && reply.status < 300) {
          answered.push({ n, interaction_id: reply.body.interaction_id, key, body: reply.body });
          if (answered.length >= KILL_AFTER_OK && !killing) killing = killed(first.child);
        }
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    expect(killing, "the load ended before the kill").toBeDefined();
    await killing;
    expect(first.child.signalCode).toBe("SIGKILL");
    const sentBeforeKill = next;

    const second = await startChild();
    const verification = await operator(second).get("/interactions/verify");
    expect(verification.status).toBe(200);
    expect(verification.body).toMatchObject({ valid: true });

    const { records } = await exportedRecords(second);
    expect(verification.body.records).toBe(records.length);
    const kinds = new Map<string, string[]>();
    for (const r of records) kinds.set(r.interaction_id, [...(kinds.get(r.interaction_id) ?? []), r.kind]);
    for (const a of answered) {
      expect(a.body).toMatchObject({ decision: "ALLOW", executed: true });
      expect(kinds.get(a.interaction_id), a.interaction_id).toEqual(["intent", "outcome"]);
    }

    // Write-ahead: every call the receiver got was announced by an intent before it was made.
    const intents = new Set(records.filter((r) => r.kind === "intent").map((r) => r.action.params.n));
    const delivered = receiver.received
      .filter((r) => r.path === "/slow/job")
      .map((r) => JSON.parse(r.body).n as number);
    expect(delivered.filter((n) => !intents.has(n))).toEqual([]);

    // Idempotency keys answered before the crash answer the same after it, without running again.
    const keyed = answered.filter((a) => a.key).slice(0, 10);
    expect(keyed.length).toBeGreaterThan(0);
    const before = receiver.received.length;
    for (const a of keyed) {
      const replay = await agent(second).post(
        "/api/v1/gateway/execute",
        executeBody(UAPK, { type: "job", tool: "run", params: { n: a.n } }, { idempotency_key: a.key }),
      );
      expect(replay.body).toMatchObject({ idempotent: true, interaction_id: a.interaction_id });
    }
    expect(receiver.received.length).toBe(before);

    const inFlight = [...kinds.values()].filter((k) => k.length === 1 && k[0] === "intent").length;
    console.info(
      `crash test: ${sentBeforeKill} executes sent, ${answered.length} answered 2xx before SIGKILL, ` +
        `${records.length} records verified after restart, ${inFlight} intent(s) without outcome (in flight at the kill), ` +
        `${delivered.length} connector calls delivered`,
    );
    await killed(second.child);
  });
});
