// The `gatehouse` command line, on commander: every command has --help with a description.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Command, Option } from "commander";
import { loadConfig } from "../config";
import { printable, printableJson } from "../core/audit/printable";
import { DEFAULT_MAX_STEP_BACK_MS } from "../core/audit/verify";
import { type CliIo, runAuditVerify } from "./audit-verify";
import { CliError, createKey, listKeys, migrate, mintToken, revokeKey } from "./local";
import {
  type ApiOptions,
  applyManifests,
  decideApproval,
  exportAudit,
  listApprovals,
  validateManifests,
} from "./remote";
import { userPath, userPathOrUrl } from "./user-path";

const PROJECT_ROOT = resolve(import.meta.dirname, "../..");

const defaultIo: CliIo = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
};

/** Options shared by the commands that call a running Gatehouse. */
function withApi(cmd: Command): Command {
  return cmd
    .addOption(new Option("--url <url>", "Gatehouse base URL").env("GATEHOUSE_URL").default("http://127.0.0.1:8000"))
    .addOption(new Option("--token <jwt>", "operator bearer token").env("GATEHOUSE_TOKEN"))
    .option("--org <org>", "organisation id (default: GATEHOUSE_DEFAULT_ORG)");
}

function apiOptions(opts: { url: string; token?: string; org?: string }): ApiOptions {
  return {
    url: opts.url.replace(/\/$/, ""),
    org: opts.org ?? loadConfig().defaultOrg,
    ...(opts.token ? { token: opts.token } : {}),
  };
}

/** mock and docs run development tools: they need the full (development) install. */
function runDevTool(bin: string, args: string[]): Promise<void> {
  const path = resolve(PROJECT_ROOT, "node_modules/.bin", bin);
  if (!existsSync(path)) throw new CliError(`${bin} is a development tool: run 'npm ci' (with dev dependencies) first`);
  return new Promise((ok, fail) => {
    const child = spawn(path, args, { cwd: PROJECT_ROOT, stdio: "inherit" });
    child.on("exit", (code) => (code === 0 ? ok() : fail(new CliError(`${bin} exited with ${code}`, code ?? 1))));
  });
}

function addKeys(program: Command, io: CliIo): void {
  const keys = program.command("keys").description("API keys of this installation, per org (X-API-Key)");
  keys
    .command("create")
    .description("create an API key; it is printed once, only its keyed hash is stored")
    .option("--org <org>", "organisation the key belongs to (default: GATEHOUSE_DEFAULT_ORG)")
    .option("--label <label>", "what the key is for", "cli")
    .action((o) => createKey(o, io));
  keys
    .command("list")
    .description("list API keys (id, org, label, state), never the keys themselves")
    .option("--org <org>", "only this organisation")
    .action((o) => listKeys(o, io));
  keys
    .command("revoke")
    .description("revoke an API key by its id")
    .argument("<key_id>", "id shown by 'keys list'")
    .action((id) => revokeKey(id, io));
}

function addManifests(program: Command, io: CliIo): void {
  const manifests = program.command("manifests").description("agent manifests kept as files (GitOps)");
  manifests
    .command("validate")
    .description("check every manifest file of a folder (no server needed)")
    .argument("<dir>", "folder of *.yaml / *.yml / *.json manifests", (value: string) => userPath(value))
    .action((dir) => validateManifests(dir, io));
  withApi(
    manifests
      .command("apply")
      .description("register new manifests of a folder (POST) and update changed ones (PUT) on a running Gatehouse"),
  )
    .argument("<dir>", "folder of manifests", (value: string) => userPath(value))
    .option("--dry-run", "print what would change, change nothing", false)
    .action((dir, o) => applyManifests(apiOptions(o), dir, { dryRun: o.dryRun }, io));
}

function addAudit(program: Command, io: CliIo): void {
  const audit = program.command("audit").description("the signed, hash-chained audit log");
  withApi(audit.command("export").description("print an org's audit log as JSONL (for 'audit verify')")).action((o) =>
    exportAudit(apiOptions(o), io),
  );
  audit
    .command("verify")
    .description("verify an exported audit log offline: hash chain and signatures")
    .argument("<file>", "the JSONL export", (value: string) => userPath(value))
    .requiredOption("--jwks <file|url>", "Gatehouse's public keys (/.well-known/jwks.json)", (value: string) =>
      userPathOrUrl(value),
    )
    .option(
      "--max-step-back-ms <ms>",
      "largest step back in time between consecutive records of a chain: nodes' clocks differ by up to twice " +
        "GATEHOUSE_MAX_CLOCK_SKEW_MS (default 5000), plus 5000 ms; a record further back fails, naming its seq",
      String(DEFAULT_MAX_STEP_BACK_MS),
    )
    .action(async (file, o) => {
      const code = await runAuditVerify([file, "--jwks", o.jwks, "--max-step-back-ms", o.maxStepBackMs], io);
      if (code !== 0) throw new CliError("audit verification failed", code);
    });
}

function addPolicy(program: Command, io: CliIo): void {
  const policy = program.command("policy").description("try manifest changes against recorded history");
  withApi(
    policy
      .command("replay")
      .description(
        "replay an agent's recorded actions with a candidate manifest (no side effect) and print the decision matrix; exits 1 when a DENY/ESCALATE would become ALLOW or when the limit cut the replay short",
      ),
  )
    .argument("<manifest-file>", "the candidate manifest (YAML or JSON)", (value: string) => userPath(value))
    .option("--agent <uapk_id>", "the registered manifest to compare with (default: the file's uapk_id)")
    .option("--since <iso>", "only actions recorded at or after this instant")
    .option("--until <iso>", "only actions recorded before this instant")
    .option("--limit <n>", "at most this many recorded actions (default 10000)")
    .option("--allow-loosening", "do not fail when decisions become ALLOW", false)
    .action(async (file, o) => {
      const { policyReplay } = await import("./policy-replay");
      await policyReplay(apiOptions(o), file, o, io);
    });
}

function addEvidence(program: Command, io: CliIo): void {
  const evidence = program.command("evidence").description("evidence bundles of interactions");
  withApi(evidence.command("get").description("print an interaction's evidence bundle (JSON)"))
    .argument("<interaction_id>", "the interaction")
    .action(async (id, o) => {
      const { callApi } = await import("./remote");
      const res = await callApi(apiOptions(o), "GET", `/interactions/${encodeURIComponent(id)}/evidence`);
      // The bundle holds what an agent sent (its agent_id, the action's params): its control and format characters
      // are escaped, so printing it to a terminal cannot repaint or reorder it; the JSON parses to the same bundle.
      io.stdout(printableJson(JSON.stringify(await res.json(), null, 2)));
    });
  evidence
    .command("verify")
    .description("verify an evidence bundle offline and say what it proves")
    .argument("<bundle>", "the bundle (JSON)", (value: string) => userPath(value))
    .requiredOption("--jwks <file|url>", "Gatehouse's public keys (/.well-known/jwks.json)", (value: string) =>
      userPathOrUrl(value),
    )
    .action(async (file, o) => {
      const { runEvidenceVerify } = await import("./evidence-verify");
      await runEvidenceVerify(file, o.jwks, io);
    });
}

function addApprovals(program: Command, io: CliIo): void {
  const approvals = program
    .command("approvals")
    .description("pending human approvals (ESCALATE decisions), over the API");
  withApi(approvals.command("list").description("list approvals"))
    .option("--status <status>", "only this status, e.g. pending")
    .action((o) => listApprovals(apiOptions(o), o, io));
  for (const decision of ["approve", "deny"] as const) {
    withApi(approvals.command(decision).description(`${decision} a pending approval`))
      .argument("<approval_id>", "id shown by 'approvals list'")
      .option("--reason <text>", "note stored on the approval")
      .action((id, o) => decideApproval(apiOptions(o), decision, id, o.reason, io));
  }
}

export function buildProgram(io: CliIo = defaultIo): Command {
  const program = new Command("gatehouse")
    .description("Gatehouse: a spec-first gateway for AI agents")
    .configureOutput({ writeOut: (s) => io.stdout(s.trimEnd()), writeErr: (s) => io.stderr(s.trimEnd()) })
    .showHelpAfterError("(add --help for usage)");
  program
    .command("serve")
    .description("start the gateway (configuration from the environment and .env)")
    // As dist/main.js: a configuration error found while starting (a port taken, a store another prefix uses) exits 2.
    .action(async () => (await import("./serve")).serveOrExit());
  program
    .command("mcp-stdio")
    .description("bridge an MCP client that launches local processes (stdio) to Gatehouse's MCP endpoints")
    .requiredOption("--url <url>", "Gatehouse base URL")
    .option("--agent <uapk_id>", "the agent whose governed tools to expose (/mcp/agents/{uapk_id})")
    .option("--purutos", "expose the allowed puruto commands (/mcp/purutos)")
    .option("--api-key <key>", "agent API key (default: GATEHOUSE_API_KEY)")
    .option("--token <jwt>", "bearer token for people (default: GATEHOUSE_TOKEN)")
    .option("--capability-token <jwt>", "capability token sent for the whole session")
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const argv = Object.entries(opts).flatMap(([name, value]) => {
        const flag = `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
        return value === true ? [flag] : typeof value === "string" ? [flag, value] : [];
      });
      const { mcpStdioCommand } = await import("../faces/mcp/stdio-bridge");
      const code = await mcpStdioCommand(argv);
      if (code !== 0) throw new CliError("mcp-stdio: see the message above", code);
    });
  program
    .command("migrate")
    .description("bring the database schema up to date")
    .action(async () => migrate(io));
  program
    .command("token")
    .description("mint a user token from this installation's development issuer")
    .requiredOption("--sub <name>", "subject (user name)")
    .option("--org <org>", "organisation (default: GATEHOUSE_DEFAULT_ORG)")
    .option(
      "--role <role>",
      "role, repeatable (e.g. operator, developer)",
      (r: string, all: string[]) => [...all, r],
      [] as string[],
    )
    .option("--ttl <seconds>", "lifetime in seconds", "3600")
    .action((o) => mintToken(o, io));
  addKeys(program, io);
  addManifests(program, io);
  addAudit(program, io);
  addApprovals(program, io);
  addPolicy(program, io);
  addEvidence(program, io);
  program
    .command("mock")
    .description("Prism mock of the REST API (:4010) and the WebSocket mock (:4011); development install")
    .action(() => runDevTool("tsx", ["contract-tests/mock.ts"]));
  program
    .command("docs")
    .description(
      "render the REST and WebSocket API docs to dist/docs/ as make docs does (offline; served at /docs); development install",
    )
    .action(() => runDevTool("tsx", ["deploy/docs.ts"]));
  return program;
}

/** `text` with its line breaks kept and every other control or format character escaped. */
function printableLines(text: string): string {
  return text.split("\n").map(printable).join("\n");
}

/** Parses argv and runs the command; resolves to the process exit code. */
export async function runCli(argv: string[], io: CliIo = defaultIo): Promise<number> {
  const program = buildProgram(io);
  program.exitOverride();
  for (const sub of program.commands) exitOverrideDeep(sub);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    // A command line commander cannot run (unknown command or option, missing argument or subcommand) is a usage
    // error: 2, as every bad option is (commander itself says 1).
    const exit = err as { code?: string };
    if (typeof exit.code === "string" && exit.code.startsWith("commander.")) {
      return exit.code === "commander.helpDisplayed" || exit.code === "commander.version" ? 0 : 2;
    }
    // A message may quote what the command read (a file, a server's answer): each line escaped, so its control
    // characters cannot repaint what the terminal shows.
    if (err instanceof CliError) {
      io.stderr(`gatehouse: ${printableLines(err.message)}`);
      return err.exitCode;
    }
    io.stderr(`gatehouse: ${printableLines(err instanceof Error ? err.message : String(err))}`);
    return 1;
  }
}

function exitOverrideDeep(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) exitOverrideDeep(sub);
}
