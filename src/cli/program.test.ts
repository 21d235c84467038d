// The command line as a user meets it: help everywhere, clear refusals, exit codes scripts can rely on.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { afterEach, describe, expect, it } from "vitest";
import { buildProgram, runCli } from "./program";
import { userPath, userPathOrUrl } from "./user-path";

async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { stdout: (l) => out.push(l), stderr: (l) => err.push(l) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

function allCommands(cmd: Command, path: string[] = []): { path: string[]; cmd: Command }[] {
  return cmd.commands.flatMap((c) => [{ path: [...path, c.name()], cmd: c }, ...allCommands(c, [...path, c.name()])]);
}

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "gatehouse-cli-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  delete process.env.GATEHOUSE_DATA_DIR;
});

describe("gatehouse --help", () => {
  it("exits 0 and lists every command of the issue", async () => {
    const { code, stdout } = await run("--help");
    expect(code).toBe(0);
    for (const name of ["serve", "migrate", "token", "keys", "manifests", "audit", "approvals", "mock", "docs"]) {
      expect(stdout).toMatch(new RegExp(`^\\s+${name}\\b`, "m"));
    }
  });

  it("every command and subcommand has a description and answers --help with exit 0", async () => {
    const commands = allCommands(buildProgram());
    expect(commands.map((c) => c.path.join(" "))).toEqual(
      expect.arrayContaining([
        "keys create",
        "keys list",
        "keys revoke",
        "manifests validate",
        "manifests apply",
        "audit export",
        "audit verify",
        "approvals list",
        "approvals approve",
        "approvals deny",
      ]),
    );
    for (const { path, cmd } of commands) {
      expect(cmd.description(), path.join(" ")).not.toBe("");
      const { code, stdout } = await run(...path, "--help");
      expect(code, path.join(" ")).toBe(0);
      expect(stdout).toContain(`Usage: gatehouse ${path.join(" ")}`);
    }
  });

  it("an unknown command fails with a non-zero code and says so", async () => {
    const { code, stderr } = await run("frobnicate");
    expect(code).not.toBe(0);
    expect(stderr).toContain("unknown command 'frobnicate'");
  });

  it("a command line it cannot run as typed exits 2 (the README's exit codes), saying what is wrong", async () => {
    for (const [argv, says] of [
      [["frobnicate"], "unknown command 'frobnicate'"],
      [["approvals", "list", "--bogus"], "unknown option '--bogus'"],
      [["approvals", "approve"], "missing required argument 'approval_id'"],
      [["approvals"], "Usage: gatehouse approvals"],
      [["policy", "replay"], "missing required argument 'manifest-file'"],
    ] as const) {
      const { code, stderr } = await run(...argv);
      expect(code, argv.join(" ")).toBe(2);
      expect(stderr, argv.join(" ")).toContain(says);
    }
  });
});

describe("commands on a missing installation", () => {
  it("token refuses clearly instead of minting with a brand-new key", async () => {
    const dataDir = tempDir();
    process.env.GATEHOUSE_DATA_DIR = dataDir;
    const { code, stdout, stderr } = await run("token", "--sub", "alice");
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toContain("no Gatehouse installation found");
    expect(stderr).toContain("GATEHOUSE_DATA_DIR");
    expect(readdirSync(dataDir)).toEqual([]);
  });

  it("keys list refuses instead of creating an empty database", async () => {
    const dataDir = tempDir();
    process.env.GATEHOUSE_DATA_DIR = dataDir;
    const { code, stderr } = await run("keys", "list");
    expect(code).toBe(1);
    expect(stderr).toContain("no Gatehouse installation found");
    expect(existsSync(join(dataDir, "gatehouse.sqlite"))).toBe(false);
  });

  it("token refuses a lifetime past 30 days and a role Gatehouse does not read, before looking for an installation", async () => {
    const long = await run("token", "--sub", "alice", "--role", "operator", "--ttl", "999999999999");
    expect(long.code).toBe(2);
    expect(long.stderr).toContain("--ttl is at most 2592000 seconds");
    const role = await run("token", "--sub", "alice", "--role", "superadmin");
    expect(role.code).toBe(2);
    expect(role.stderr).toContain("unknown role 'superadmin': Gatehouse reads operator, platform_admin, developer");
  });

  it("token refuses a blank --sub (the server would refuse the token), before looking for an installation", async () => {
    process.env.GATEHOUSE_DATA_DIR = tempDir();
    for (const sub of ["", "   ", "\u200b", "\u3000"]) {
      const { code, stdout, stderr } = await run("token", "--sub", sub, "--role", "operator");
      expect(code, JSON.stringify(sub)).toBe(2);
      expect(stdout).toBe("");
      expect(stderr).toContain("--sub is blank: name the user the token is for (e.g. --sub alice@example.com)");
    }
  });

  it("token without --sub names the missing option", async () => {
    const { code, stderr } = await run("token");
    expect(code).not.toBe(0);
    expect(stderr).toContain("--sub");
  });
});

describe("manifests apply", () => {
  it("on an invalid file applies nothing and says why, as validate does (R10)", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "broken.yaml"), "uapk_id: [unclosed\n");
    const { code, stderr } = await run("manifests", "apply", dir, "--url", "http://127.0.0.1:9", "--token", "t");
    expect(code).toBe(1);
    expect(stderr).toContain("invalid manifest(s), nothing applied:");
    expect(stderr).toMatch(/broken\.yaml: invalid\n {2}\S/);
    expect(stderr).toMatch(/line 1|column|Flow sequence|unclosed|Missing/i);
  });
});

describe("manifests validate", () => {
  it("accepts the example manifests", async () => {
    const { code, stdout } = await run(
      "manifests",
      "validate",
      resolve(import.meta.dirname, "../../examples/manifests"),
    );
    expect(code).toBe(0);
    expect(stdout).toContain("customer-support-bot.yaml: valid");
  });

  it("names the broken file and fails", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "broken.yaml"), "uapk_id: x\nagent: 3\n");
    const { code, stdout, stderr } = await run("manifests", "validate", dir);
    expect(code).toBe(1);
    expect(stdout).toContain("broken.yaml: invalid");
    expect(stderr).toContain("1 of 1 manifest file(s) invalid");
  });
});

describe("files the CLI is pointed at", () => {
  /** A `.yaml` that is a symlink to /dev/zero: reading it would never end. */
  function endless(dir: string, name = "zero.yaml"): string {
    const path = join(dir, name);
    symlinkSync("/dev/zero", path);
    return path;
  }
  function jwksFile(dir: string): string {
    const { publicKey } = generateKeyPairSync("ed25519");
    const path = join(dir, "jwks.json");
    writeFileSync(path, JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid: "k1" }] }));
    return path;
  }

  it("refuses what is not a regular file at once, in every command that reads one", async () => {
    const dir = tempDir();
    const zero = endless(dir);
    const replay = await run("policy", "replay", zero, "--url", "http://127.0.0.1:9", "--token", "t");
    expect(replay.code).toBe(2);
    expect(replay.stderr).toContain("not a regular file");
    for (const args of [
      ["audit", "verify", zero, "--jwks", jwksFile(dir)],
      ["evidence", "verify", zero, "--jwks", jwksFile(dir)],
      ["audit", "verify", join(dir, "none.jsonl"), "--jwks", zero],
    ]) {
      const { code, stderr } = await run(...args);
      expect(code, args.join(" ")).toBe(2);
      expect(stderr, args.join(" ")).toMatch(/not a regular file|ENOENT/);
    }
    // A FIFO with no writer: opening it must not wait for one.
    execFileSync("mkfifo", [join(dir, "pipe.yaml")]);
    const validate = await run("manifests", "validate", dir);
    expect(validate.code).toBe(1);
    expect(validate.stdout).toContain("zero.yaml: invalid\n  not a regular file");
    expect(validate.stdout).toContain("pipe.yaml: invalid\n  not a regular file");
  });

  it("manifests validate and apply exit 2 on a folder they cannot read, as every command on an unreadable input", async () => {
    const missing = join(tempDir(), "no-such-folder");
    for (const argv of [
      ["manifests", "validate", missing],
      ["manifests", "apply", missing, "--url", "http://127.0.0.1:9", "--token", "t"],
    ]) {
      const { code, stderr } = await run(...argv);
      expect(code, argv.join(" ")).toBe(2);
      expect(stderr).toContain(`cannot read manifest folder ${missing}`);
    }
  });

  it("manifests validate fails on a folder holding no manifest: a CI step on the wrong folder checks nothing", async () => {
    const { code, stderr } = await run("manifests", "validate", tempDir());
    expect(code).toBe(1);
    expect(stderr).toContain("no manifest file (.yaml, .yml, .json)");
  });
});

describe("approvals over the API", () => {
  it("lists an agent's approval escaped: its agent_id and params cannot repaint the operator's terminal", async () => {
    const { createServer } = await import("node:http");
    const forged = {
      approval_id: "appr-1",
      status: "pending",
      agent_id: "bot\r\u001b[2Kappr-2\tapproved",
      action: { type: "crm", tool: "delete", params: { note: "\u202eevil" } },
    };
    const server = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ items: [forged] }));
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const { port } = server.address() as { port: number };
    try {
      const { code, stdout } = await run("approvals", "list", "--url", `http://127.0.0.1:${port}`, "--token", "t");
      expect(code).toBe(0);
      expect(stdout.split("\n")).toHaveLength(1);
      // The columns are tab-separated: any other control or format character came from the agent.
      expect(stdout.split("\t")).toHaveLength(4);
      expect(stdout.replaceAll("\t", "")).not.toMatch(/[\p{Cc}\p{Cf}]/u);
      expect(stdout).toContain("bot\\u000d\\u001b[2Kappr-2\\u0009approved");
    } finally {
      server.close();
    }
  });

  it("lists every page: approvals past the first page are shown, in order, each once", async () => {
    const { createServer } = await import("node:http");
    const all = Array.from({ length: 1_203 }, (_, i) => ({ approval_id: `appr-${i}`, status: "pending" }));
    const asked: string[] = [];
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      asked.push(url.search);
      const from = Number(url.searchParams.get("cursor") ?? 0);
      const limit = Number(url.searchParams.get("limit") ?? 100);
      const next = from + limit < all.length ? { next_cursor: String(from + limit) } : {};
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ items: all.slice(from, from + limit), ...next }));
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const { port } = server.address() as { port: number };
    try {
      const url = `http://127.0.0.1:${port}`;
      const { code, stdout } = await run("approvals", "list", "--status", "pending", "--url", url, "--token", "t");
      expect(code).toBe(0);
      expect(stdout.split("\n").map((line) => line.split("\t")[0])).toEqual(all.map((a) => a.approval_id));
      expect(asked.every((search) => search.includes("status=pending"))).toBe(true);
    } finally {
      server.close();
    }
  });

  it("an option value Gatehouse refuses (400) exits 2 like any bad option; a refusal of what was asked exits 1", async () => {
    const { createServer } = await import("node:http");
    const server = createServer((req, res) => {
      const invalid = (req.url ?? "").includes("status=bogus");
      res.statusCode = invalid ? 400 : 409;
      res.setHeader("content-type", "application/problem+json");
      const detail = invalid
        ? "Request is invalid: /query/status: must be equal to one of the allowed values"
        : "Approval appr-1 is approved";
      res.end(
        JSON.stringify({
          status: res.statusCode,
          code: invalid ? "VALIDATION_FAILED" : "APPROVAL_NOT_PENDING",
          detail,
        }),
      );
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const bogus = await run("approvals", "list", "--status", "bogus", "--url", url, "--token", "t");
      expect(bogus.code).toBe(2);
      expect(bogus.stderr).toContain("400 Request is invalid: /query/status");
      const decided = await run("approvals", "approve", "appr-1", "--url", url, "--token", "t");
      expect(decided.code).toBe(1);
      expect(decided.stderr).toContain("409 Approval appr-1 is approved");
    } finally {
      server.close();
    }
  });

  it("without a token says how to get one", async () => {
    const { code, stderr } = await run("approvals", "list", "--url", "http://127.0.0.1:1");
    expect(code).toBe(2);
    expect(stderr).toContain("gatehouse token --role operator");
  });
});

describe("a file named on the command line", () => {
  it("is relative to the folder `npm run gatehouse` was typed in, not the package root npm starts it in", () => {
    // A subfolder of the package (npm finds the package from it), holding a folder of manifests.
    const scratch = resolve(import.meta.dirname, "../../.tmp");
    mkdirSync(scratch, { recursive: true });
    const typedIn = mkdtempSync(join(scratch, "cli-typed-in-"));
    dirs.push(typedIn);
    const manifests = join(typedIn, "mine");
    execFileSync("mkdir", [manifests]);
    execFileSync("cp", [resolve(import.meta.dirname, "../../examples/manifests/ide-assistant.yaml"), manifests]);
    const stdout = execFileSync("npm", ["run", "-s", "gatehouse", "--", "manifests", "validate", "mine"], {
      cwd: typedIn,
      encoding: "utf8",
    });
    expect(stdout).toContain("ide-assistant.yaml: valid");
  });

  it("is relative to the working folder when a script changed folder itself, or without npm", () => {
    const npm = { npm_package_json: "/repo/package.json", INIT_CWD: "/repo/sub" };
    expect(userPath("export.jsonl", npm, "/repo")).toBe("/repo/sub/export.jsonl");
    expect(userPath("export.jsonl", npm, "/repo/other")).toBe("/repo/other/export.jsonl");
    expect(userPath("export.jsonl", {}, "/work")).toBe("/work/export.jsonl");
    expect(userPath("/abs/export.jsonl", npm, "/repo")).toBe("/abs/export.jsonl");
    expect(userPathOrUrl("https://gw.example/.well-known/jwks.json", npm, "/repo")).toBe(
      "https://gw.example/.well-known/jwks.json",
    );
    expect(userPathOrUrl("jwks.json", npm, "/repo")).toBe("/repo/sub/jwks.json");
  });
});
