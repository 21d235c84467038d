// Adversarial: a command runs as the gateway's own OS user, so without more it could read the gateway's data
// directory — the installation secret, the dev issuer's private key (operator tokens), the SQLite database (audit
// signing keys) — and a database file kept elsewhere. In its mount namespace they are hidden before it starts
// (runner.ts, HIDE_SCRIPT), while the gateway keeps reading them. Real processes and real mounts, nothing mocked.
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readdir, readFile, realpath, symlink, writeFile } from "node:fs/promises";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase, type Db } from "../../core/store/sqlite";
import { startTestGatehouse } from "../../test-support/gatehouse";
import {
  dataDirHiding,
  hiddenPaths,
  pidNamespacePrefix,
  runProcess,
  type HiddenPaths,
  type RunOutcome,
} from "./runner";
import { removeDir, tempDir, writePuruto } from "./testing";

const hiding = process.platform === "linux" ? dataDirHiding() : { hidden: false as const, why: "not Linux" };
const SECRET = `secret-${randomUUID()}`;
const ISSUER_KEY = `{"kty":"RSA","d":"private-${randomUUID()}"}`;
const MARK = `row-${randomUUID()}`;

let scratch: string;
let dataDir: string;
let outside: string;
let outsideDb: string;
let puruto: string;
const dbs: Db[] = [];

/** A SQLite database as the gateway keeps it: WAL mode, open, so its -wal and -shm exist next to it. */
function openWithRow(file: string): Db {
  const db = openDatabase(file);
  db.exec("CREATE TABLE marks (mark TEXT)");
  db.prepare("INSERT INTO marks VALUES (?)").run(MARK);
  dbs.push(db);
  return db;
}

beforeAll(async () => {
  scratch = await realpath(await tempDir("gh-hide-"));
  dataDir = path.join(scratch, "data");
  outside = path.join(scratch, "elsewhere");
  puruto = path.join(scratch, "ecosystem", "puruto-x");
  await Promise.all([mkdir(dataDir), mkdir(outside), mkdir(puruto, { recursive: true })]);
  await writeFile(path.join(dataDir, "secret"), SECRET, { mode: 0o600 });
  await writeFile(path.join(dataDir, "dev-issuer.private.jwk.json"), ISSUER_KEY, { mode: 0o600 });
  openWithRow(path.join(dataDir, "gatehouse.sqlite"));
  outsideDb = path.join(outside, "gatehouse.sqlite");
  openWithRow(outsideDb);
  await writeFile(path.join(outside, "notes.txt"), "a neighbour of the database\n");
  // The symlink attack: a puruto folder whose files point at the gateway's.
  await symlink(path.join(dataDir, "secret"), path.join(puruto, "leak"));
  await symlink(path.join("..", "..", "data", "dev-issuer.private.jwk.json"), path.join(puruto, "leak-relative"));
  await symlink(outsideDb, path.join(puruto, "leak-db"));
});

afterAll(async () => {
  for (const db of dbs.splice(0)) db.close();
  if (scratch) await removeDir(scratch);
});

const hidden = (): HiddenPaths => ({
  dataDir,
  files: ["", "-wal", "-shm", "-journal"].map((suffix) => outsideDb + suffix),
});

/** `script` run by /bin/sh in `cwd` with the gateway's files hidden; `$1` is the data dir, `$2` the outside db. */
function sh(script: string, cwd = puruto, spec: { hidden?: HiddenPaths; timeoutMs?: number } = {}) {
  return runProcess({
    argv: ["/bin/sh", "-c", script, "sh", dataDir, outsideDb],
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdin: "",
    timeoutMs: spec.timeoutMs ?? 10_000,
    outputLimit: 64 * 1024,
    hidden: spec.hidden ?? hidden(),
  });
}

function exited(outcome: RunOutcome) {
  if (outcome.kind !== "exited") throw new Error(`expected an exit, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/** The gateway's own view, after a command ran: the mounts stayed in the command's namespace. */
function expectGatewayStillReads(): void {
  expect(readFileSync(path.join(dataDir, "secret"), "utf8")).toBe(SECRET);
  expect(readFileSync(path.join(dataDir, "dev-issuer.private.jwk.json"), "utf8")).toBe(ISSUER_KEY);
  for (const db of dbs) expect(db.prepare("SELECT mark FROM marks").get()).toEqual({ mark: MARK });
  // A fresh connection too, by path: the files themselves are there, with their bytes.
  for (const file of [path.join(dataDir, "gatehouse.sqlite"), outsideDb]) {
    const again = openDatabase(file);
    try {
      expect(again.prepare("SELECT mark FROM marks").get()).toEqual({ mark: MARK });
    } finally {
      again.close();
    }
  }
}

// Where the system allows no mount namespace (or tmpfs in it), the suite is skipped, saying why.
if (!hiding.hidden) {
  describe("hiding the data directory from commands", () => {
    it.skip(`skipped: commands cannot have the data directory hidden here (${hiding.why})`, () => {});
  });
}

describe.runIf(hiding.hidden)("hiding the data directory from commands", () => {
  it("the files a test hides really exist for the gateway, with their -wal and -shm (else nothing is proven)", async () => {
    for (const dir of [dataDir, outside]) {
      expect(await readdir(dir)).toEqual(expect.arrayContaining(["gatehouse.sqlite-wal", "gatehouse.sqlite-shm"]));
    }
    expect(readFileSync(outsideDb).length).toBeGreaterThan(0);
    expect(readFileSync(`${outsideDb}-wal`).length).toBeGreaterThan(0);
  });

  it("a command finds the data directory empty: no secret, no dev issuer key, no database; the gateway still reads them", async () => {
    const listing = exited(await sh('ls -A "$1"'));
    expect(listing).toMatchObject({ exitCode: 0, stdout: "" });

    const reads = exited(
      await sh(
        'for f in secret dev-issuer.private.jwk.json gatehouse.sqlite gatehouse.sqlite-wal gatehouse.sqlite-shm; do cat "$1/$f"; done',
      ),
    );
    expect(reads.exitCode).not.toBe(0);
    expect(reads.stdout).toBe("");
    expect(reads.stderr).toContain(`${dataDir}/secret: No such file or directory`);
    expect(reads.stderr).toContain(`${dataDir}/gatehouse.sqlite: No such file or directory`);
    // Nor can it put anything there for the gateway to find: the tmpfs is read-only, and private to its namespace.
    const write = exited(await sh('echo planted > "$1/planted"'));
    expect(write.exitCode).not.toBe(0);
    expect(existsSync(path.join(dataDir, "planted"))).toBe(false);

    expectGatewayStillReads();
  });

  it("a database file outside the data directory is hidden too, with its -wal and -shm; its neighbours are not", async () => {
    const outcome = exited(await sh('cat "$2" "$2-wal" "$2-shm" | wc -c; cat "$(dirname "$2")/notes.txt"'));
    expect(outcome).toMatchObject({ exitCode: 0 });
    expect(outcome.stdout.split("\n")[0]?.trim()).toBe("0");
    expect(outcome.stdout).toContain("a neighbour of the database");
    expectGatewayStillReads();
  });

  it("symlinks in the puruto's folder to the secret, the issuer key and the database read nothing", async () => {
    const outcome = exited(await sh("cat leak leak-relative; cat leak-db | wc -c"));
    expect(outcome.stdout.trim()).toBe("0");
    expect(outcome.stdout).not.toContain(SECRET);
    expect(outcome.stderr).toContain("leak: No such file or directory");
    expect(outcome.stderr).toContain("leak-relative: No such file or directory");
    expectGatewayStillReads();
  });

  it("a command whose working directory lies inside the data directory still runs there, and sees nothing else of it", async () => {
    const inside = path.join(dataDir, "puruto-in");
    await mkdir(inside, { recursive: true });
    await writeFile(path.join(inside, "own.txt"), "its own file\n");
    const outcome = exited(await sh('pwd; cat own.txt; cat ../secret; ls -A "$1"', inside));
    expect(outcome.stdout).toBe(`${inside}\nits own file\n`);
    expect(outcome.stderr).toContain("../secret: No such file or directory");
    // The data directory itself as working directory would keep every file in it readable (`cat secret`): refused.
    const inData = await sh("cat secret", dataDir);
    expect(inData).toMatchObject({ kind: "spawn_error" });
    expect(inData.kind === "spawn_error" && inData.message).toMatch(
      /working directory is the gateway's data directory/,
    );
    expectGatewayStillReads();
  });

  it("a command cannot unmount what hides the data directory, not even from a mount namespace of its own", async () => {
    const outcome = exited(
      await sh(
        [
          'umount -l "$1"; umount "$1"; cat "$1/secret"',
          // Root of a user namespace of its own, with a mount namespace of its own: the inherited mounts are locked.
          'unshare --user --map-root-user --mount sh -c \'umount -l "$1"; umount "$1"; cat "$1/secret"\' sh "$1"',
          'cat "$1/secret"; cat "$2" | wc -c',
        ].join("\n"),
      ),
    );
    expect(outcome.stdout).not.toContain(SECRET);
    expect(outcome.stdout.trim()).toBe("0");
    expectGatewayStillReads();
  });

  it("when hiding fails at run time the command never runs: a spawn error saying why", async () => {
    // A data directory that is a file: mount refuses to put a tmpfs over it (a real failure, nothing mocked).
    const marker = path.join(scratch, `ran-${randomUUID()}`);
    const notADir = path.join(outside, "notes.txt");
    const outcome = await sh(`touch ${marker}`, puruto, { hidden: { dataDir: notADir, files: [] } });
    expect(outcome).toMatchObject({ kind: "spawn_error" });
    expect(outcome.kind === "spawn_error" && outcome.message).toMatch(/^could not hide the gateway's data directory/);
    expect(existsSync(marker)).toBe(false);

    // Same for a database path /dev/null cannot cover (a folder), the data directory itself being fine.
    const dbFolder = await sh(`touch ${marker}`, puruto, { hidden: { dataDir, files: [outside] } });
    expect(dbFolder).toMatchObject({ kind: "spawn_error" });
    expect(existsSync(marker)).toBe(false);
  });

  it("the command is still the namespace's PID 1 and its exit code and signals come through", async () => {
    const outcome = exited(await sh("echo $$; exit 7"));
    expect(outcome).toMatchObject({ exitCode: 7, stdout: "1\n" });
    // SIGKILL from outside (the OOM killer, an operator): PID 1 ignores it from inside its own namespace.
    const marker = `gh-hidden-killed-${randomUUID()}`;
    const run = sh(`exec sh -c "sleep 30; :" ${marker}`);
    await expect.poll(() => survivors(marker), { timeout: 5_000, interval: 50 }).toHaveLength(1);
    for (const pid of await survivors(marker)) process.kill(Number(pid), "SIGKILL");
    expect(exited(await run)).toMatchObject({ exitCode: null, signal: "SIGKILL" });
    // fd 3 (the hiding script's proof) is closed before the command starts.
    const fd3 = exited(await sh("if [ -e /proc/$$/fd/3 ]; then echo open; else echo closed; fi"));
    expect(fd3.stdout).toBe("closed\n");
  });

  it("a timeout still kills the whole tree, a setsid double-forked grandchild included", async () => {
    const marker = `gh-hidden-orphan-${randomUUID()}`;
    const grandchild = `sh -c "sleep 300; :" ${marker}`;
    const run = sh(`setsid sh -c '${grandchild} & exit 0' </dev/null >/dev/null 2>&1; sleep 300`, puruto, {
      timeoutMs: 2_000,
    });
    await expect.poll(() => survivors(marker), { timeout: 5_000, interval: 100 }).toHaveLength(1);
    expect((await run).kind).toBe("timeout");
    await expect.poll(() => survivors(marker), { timeout: 5_000, interval: 100 }).toEqual([]);
  }, 15_000);

  it("without `hidden` a command runs as before (the plain namespace prefix, nothing hidden)", async () => {
    expect(pidNamespacePrefix()).not.toBeNull();
    const plain = exited(
      await runProcess({
        argv: ["/bin/cat", path.join(dataDir, "secret")],
        cwd: puruto,
        env: {},
        stdin: "",
        timeoutMs: 10_000,
        outputLimit: 1024,
      }),
    );
    expect(plain).toMatchObject({ exitCode: 0, stdout: SECRET });
  });
});

/** Runs the `peek` skill of puruto-peek through the gateway's REST API; its invocation (200 expected). */
async function peekThrough(g: { url: string; apiKey: string }): Promise<{ status: string; result: unknown }> {
  const response = await fetch(`${g.url}/purutos/puruto-peek/peek`, {
    method: "POST",
    headers: { "x-api-key": g.apiKey, "content-type": "application/json" },
    body: "{}",
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { invocation: { status: string; result: unknown } }).invocation;
}

describe.runIf(hiding.hidden)("hiding the data directory, through the gateway (startGatehouse's config)", () => {
  it("a puruto skill finds the data directory empty and GATEHOUSE_DB (kept elsewhere) empty; the gateway works on", async () => {
    const root = await realpath(await tempDir("gh-hide-e2e-"));
    const gatewayData = path.join(root, "data");
    const database = path.join(root, "db", "gatehouse.sqlite");
    await mkdir(path.dirname(database));
    // The skill reports what it finds: the data dir's listing, and the bytes it could read of the gateway's files.
    const peek = [
      "#!/bin/sh",
      `d='${gatewayData}'; db='${database}'`,
      'listing=$(ls -A "$d" 2>&1 | tr "\\n" " ")',
      'bytes=$(cat "$d/secret" "$d/dev-issuer.private.jwk.json" "$d/gatehouse.sqlite" "$db" "$db-wal" 2>/dev/null | wc -c)',
      'printf \'{"listing":"%s","bytes":%d}\' "$listing" "$bytes"',
      "",
    ].join("\n");
    await writePuruto(root, "puruto-peek", { skills: { peek: { run: peek } } });
    const g = await startTestGatehouse({
      env: {
        GATEHOUSE_DATA_DIR: gatewayData,
        GATEHOUSE_DB: database,
        GATEHOUSE_ECOSYSTEM_ROOT: root,
        PURUTO_DATA_PATH: "",
        GATEHOUSE_EXTRA_COMMANDS: "peek",
      },
    });
    try {
      // What there is to find, for the gateway: its secret, its issuer key, its database (in WAL mode) elsewhere.
      expect(await readdir(gatewayData)).toEqual(expect.arrayContaining(["secret", "dev-issuer.private.jwk.json"]));
      expect(existsSync(`${database}-wal`)).toBe(true);
      for (let i = 0; i < 2; i++) {
        expect(await peekThrough(g)).toMatchObject({ status: "ok", result: { listing: "", bytes: 0 } });
      }
      // The gateway itself still reads its files: its operator token verifies, its database answers.
      const manifests = await fetch(`${g.url}/api/v1/orgs/${g.orgId}/manifests`, {
        headers: { authorization: `Bearer ${g.operatorToken}` },
      });
      expect(manifests.status).toBe(200);
      expect(readFileSync(path.join(gatewayData, "secret"), "utf8").length).toBeGreaterThan(0);
    } finally {
      await g.dispose();
      await removeDir(root);
    }
  }, 30_000);
});

describe("hiddenPaths: the gateway's .env", () => {
  it("is hidden when it is a regular file outside the data directory; not a folder of that name, not twice", async () => {
    const home = await realpath(await tempDir("gh-hide-env-unit-"));
    try {
      const data = path.join(home, "data");
      await mkdir(data);
      await writeFile(path.join(home, ".env"), "GATEHOUSE_SECRET=x\n");
      expect(hiddenPaths(data, null, path.join(home, ".env")).files).toEqual([path.join(home, ".env")]);
      await mkdir(path.join(home, "folder", ".env"), { recursive: true });
      expect(hiddenPaths(data, null, path.join(home, "folder", ".env")).files).toEqual([]);
      await writeFile(path.join(data, ".env"), "GATEHOUSE_SECRET=x\n"); // covered by the data dir's tmpfs already
      expect(hiddenPaths(data, null, path.join(data, ".env")).files).toEqual([]);
      expect(hiddenPaths(data, null, path.join(home, "missing.env")).files).toEqual([]);
    } finally {
      await removeDir(home);
    }
  });
});

describe.runIf(hiding.hidden)("hiding the gateway's .env, through the gateway", () => {
  it("a command reads nothing of the .env in the folder the gateway started in; its neighbours stay readable", async () => {
    const root = await realpath(await tempDir("gh-hide-env-"));
    const home = path.join(root, "gateway");
    await mkdir(home);
    await writeFile(path.join(home, ".env"), `GATEHOUSE_SECRET=${SECRET}\nPURUTO_GATEWAY_API_KEY=k\n`, { mode: 0o600 });
    await writeFile(path.join(home, "notes.txt"), "a neighbour\n");
    const peek = [
      "#!/bin/sh",
      `h='${home}'`,
      'printf \'{"env":%d,"notes":%d}\' "$(cat "$h/.env" 2>/dev/null | wc -c)" "$(cat "$h/notes.txt" | wc -c)"',
      "",
    ].join("\n");
    await writePuruto(path.join(root, "eco"), "puruto-peek", { skills: { peek: { run: peek } } });
    // The gateway resolves its .env in the folder it starts in, as `gatehouse serve` reads it from there.
    const cwd = process.cwd();
    process.chdir(home);
    const started = startTestGatehouse({
      env: {
        GATEHOUSE_DATA_DIR: path.join(root, "data"),
        GATEHOUSE_ECOSYSTEM_ROOT: path.join(root, "eco"),
        PURUTO_DATA_PATH: "",
        GATEHOUSE_EXTRA_COMMANDS: "peek",
      },
    }).finally(() => process.chdir(cwd));
    const g = await started;
    try {
      expect(await peekThrough(g)).toMatchObject({ status: "ok", result: { env: 0, notes: "a neighbour\n".length } });
      expect(readFileSync(path.join(home, ".env"), "utf8")).toContain(SECRET); // still there for the gateway
    } finally {
      await g.dispose();
      await removeDir(root);
    }
  }, 30_000);
});

/** Live processes whose last argument is `marker`. */
async function survivors(marker: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    if (cmdline.split("\0").filter(Boolean).at(-1) === marker) found.push(pid);
  }
  return found;
}
