// Adversarial: file descriptors the gateway inherited without close-on-exec (a supervisor's pipe, a log file, a
// socket passed on by whoever started it) must not reach a puruto command. libuv closes nothing on spawn beyond the
// stdio it is given: a descriptor open in the gateway without FD_CLOEXEC stays open in every child, and Node marks
// only some inherited descriptors close-on-exec at start-up (here: the low ones), never all of them. A command must
// see exactly stdin, stdout and stderr.
//
// The gateway is src/main.ts in a process of its own, started with extra descriptors (an open file at fds 4, 9, 40
// and 200, as a parent that leaks them would), once with the PID namespace and once with the process group only.
// The skill lists /proc/self/fd from `ls`: the one entry besides 0-2 that ls opens itself (the directory it reads,
// /proc/<pid>/fd) is left out, anything else is a leak.
import { type ChildProcess, spawn } from "node:child_process";
import {
  chmodSync,
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../../..");
const TSX = pathToFileURL(join(ROOT, "node_modules/tsx/dist/loader.mjs")).href;
const API_KEY = "inherited-fds-test-key";
const LEAKED = [4, 9, 40, 200];
/** O_CLOEXEC in /proc/<pid>/fdinfo flags (octal 02000000, Linux). */
const O_CLOEXEC = 0o2000000;
const work = mkdtempSync(join(tmpdir(), "gatehouse-inherited-fds-"));
const leakedFile = join(work, "leaked-file");
writeFileSync(leakedFile, "a descriptor the gateway inherited\n");
const started: ChildProcess[] = [];

afterAll(() => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(work, { recursive: true, force: true });
});

/** An ecosystem with one puruto whose `fds` skill writes `ls -l /proc/self/fd` to `out`. */
function ecosystem(name: string, out: string): string {
  const root = join(work, `eco-${name}`);
  const skill = join(root, "puruto-fds", ".claude", "skills", "fds");
  mkdirSync(skill, { recursive: true });
  writeFileSync(join(skill, "SKILL.md"), "---\nname: fds\ndescription: lists its file descriptors\n---\n");
  writeFileSync(join(skill, "run"), `#!/bin/sh\nls -l /proc/self/fd > '${out}'\necho '{"listed":true}'\n`);
  chmodSync(join(skill, "run"), 0o755);
  return root;
}

/** src/main.ts with `leakedFile` open (no close-on-exec: dup2 clears it) at every fd of LEAKED. */
async function startGateway(name: string, out: string, env: Record<string, string>): Promise<string> {
  const fd = openSync(leakedFile, "r");
  const stdio: (string | number)[] = ["ignore", "ignore", "pipe"];
  for (let i = 3; i <= Math.max(...LEAKED); i++) stdio.push(LEAKED.includes(i) ? fd : "ignore");
  const gateway = spawn(process.execPath, ["--import", TSX, join(ROOT, "src/main.ts")], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOST: "127.0.0.1",
      PORT: "0",
      LOG_LEVEL: "warn",
      GATEHOUSE_DATA_DIR: join(work, `data-${name}`),
      PURUTO_GATEWAY_API_KEY: API_KEY,
      GATEHOUSE_ECOSYSTEM_ROOT: ecosystem(name, out),
      PURUTO_DATA_PATH: "",
      GATEHOUSE_EXTRA_COMMANDS: "fds",
      ...env,
    },
    stdio: stdio as ("ignore" | "pipe" | number)[],
  });
  closeSync(fd);
  started.push(gateway);
  let stderr = "";
  return new Promise<string>((ok, fail) => {
    gateway.stderr!.on("data", (d) => {
      stderr += d;
      const match = /Gatehouse (http:\/\/127\.0\.0\.1:\d+) /.exec(stderr);
      if (match) ok(match[1]!);
    });
    gateway.once("exit", (code) => fail(new Error(`the gateway exited (${code}) before listening: ${stderr}`)));
  });
}

/** The fds of LEAKED where the gateway holds the leaked file without close-on-exec (else the test proves nothing). */
function gatewayLeaks(pid: number): number[] {
  return LEAKED.filter((fd) => {
    try {
      const flags = /^flags:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"))?.[1];
      return (
        readlinkSync(`/proc/${pid}/fd/${fd}`) === leakedFile && (Number.parseInt(flags ?? "0", 8) & O_CLOEXEC) === 0
      );
    } catch {
      return false;
    }
  });
}

/** The command's fds from `ls -l /proc/self/fd`, without ls's own handle on that directory. */
function commandFds(listing: string): { fd: number; target: string }[] {
  return listing
    .split("\n")
    .map((line) => / (\d+) -> (.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ fd: Number(m[1]), target: m[2]! }))
    .filter(({ target }) => !/^\/proc\/\d+\/fd$/.test(target));
}

async function runFds(name: string, env: Record<string, string>) {
  const out = join(work, `fds-${name}.txt`);
  const url = await startGateway(name, out, env);
  const gateway = started.at(-1)!;
  // Node marks some inherited descriptors close-on-exec at start-up (the low ones here), not these.
  expect(gatewayLeaks(gateway.pid!)).toEqual(expect.arrayContaining([40, 200]));
  const res = await fetch(`${url}/purutos/puruto-fds/fds`, {
    method: "POST",
    headers: { "x-api-key": API_KEY, "content-type": "application/json" },
    body: "{}",
  });
  const body = (await res.json()) as { invocation?: { status?: string; result?: unknown } };
  expect(res.status, JSON.stringify(body)).toBe(200);
  expect(body.invocation, JSON.stringify(body)).toMatchObject({ status: "ok", result: { listed: true } });
  return commandFds(readFileSync(out, "utf8"));
}

describe.runIf(process.platform === "linux")("adversarial: descriptors the gateway inherited", () => {
  it("do not reach a command run in its own namespaces", async () => {
    const fds = await runFds("namespace", {});
    expect(fds.map(({ fd }) => fd).sort((a, b) => a - b)).toEqual([0, 1, 2]);
  }, 60_000);

  it("do not reach a command run in a process group only", async () => {
    const fds = await runFds("group", { GATEHOUSE_COMMAND_PID_NAMESPACE: "off" });
    expect(fds.map(({ fd }) => fd).sort((a, b) => a - b)).toEqual([0, 1, 2]);
  }, 60_000);
});
