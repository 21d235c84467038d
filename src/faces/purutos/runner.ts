// Running one command process safely: no shell, own process group, stdin payload, timeout, output cap.
//
// - `spawn(argv[0], argv.slice(1))` without a shell: the payload is data on stdin, never part of a command line.
// - `detached: true` puts the child in its own process group, so `process.kill(-pid)` reaches everything it
//   started; on timeout, on the output limit, on abort, and after it exits (no orphans keep running).
// - stdout beyond `outputLimit` is not kept: the group is killed and the result says `truncated`.
// - A process group does not hold a command that calls `setsid` or double-forks. Where Linux allows it, the
//   command runs as PID 1 of its own PID namespace (`unshare --pid --fork --kill-child`): killing the group
//   kills `unshare`, its child dies with it (parent-death signal), and when a namespace's PID 1 dies the
//   kernel kills every process left in it — whatever session or group they moved to. Without it (not Linux,
//   no unshare, no permission) the process group is the fallback, and one log line says so. Where it can, the
//   namespace gets its own /proc too, so the command cannot read other processes' environments.
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { logger } from "../../core/log/logger";

const log = logger.child({ module: "purutos" });

/** The `unshare` prefix that works here (probed once), or null when only the process group is available. */
let namespacePrefix: string[] | null | undefined;

const NAMESPACE_PREFIXES = [
  // With its own mount namespace and a /proc of its PID namespace, a command sees only its own processes: with
  // the host's /proc it could read every process's start-up environment (/proc/<pid>/environ — the gateway's API
  // keys, database URL and secrets), since it runs as the gateway's user.
  ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc"],
  ["unshare", "--user", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc"],
  // Without a mount namespace: the PID namespace alone (the process tree still dies whole).
  ["unshare", "--pid", "--fork", "--kill-child"],
  // Without root: an unprivileged user namespace owns the PID namespace.
  ["unshare", "--user", "--pid", "--fork", "--kill-child"],
];

export function pidNamespacePrefix(): string[] | null {
  if (namespacePrefix !== undefined) return namespacePrefix;
  namespacePrefix = null;
  if (process.platform === "linux" && process.env.GATEHOUSE_COMMAND_PID_NAMESPACE !== "off") {
    for (const prefix of NAMESPACE_PREFIXES) {
      const probe = spawnSync(prefix[0]!, [...prefix.slice(1), "true"], { stdio: "ignore", timeout: 5_000 });
      if (probe.status === 0) {
        namespacePrefix = prefix;
        break;
      }
    }
  }
  if (namespacePrefix === null) {
    log.warn(
      "commands run in a process group only (no PID namespace available): a command that calls setsid or double-forks may leave processes behind after a timeout",
    );
  } else {
    log.info(
      { prefix: namespacePrefix.join(" ") },
      "commands run in their own PID namespace: the whole process tree dies at timeout or abort",
    );
  }
  return namespacePrefix;
}

/**
 * The argv actually spawned. A missing or non-executable program is refused here, as spawn would refuse it
 * (unshare would otherwise report it as an ordinary failed exit).
 */
function wrapped(argv: string[]): string[] {
  const prefix = pidNamespacePrefix();
  if (prefix === null) return argv;
  const program = argv[0]!;
  if (program.includes("/")) accessSync(program, constants.X_OK);
  return [...prefix, ...argv];
}

export interface RunSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  stdin: string;
  timeoutMs: number;
  outputLimit: number;
  signal?: AbortSignal | undefined;
}

export type RunOutcome =
  | {
      kind: "exited";
      exitCode: number | null;
      signal: NodeJS.Signals | null;
      stdout: string;
      stderr: string;
      /** Processes it started left its process group and outlived it (see EXIT_GRACE_MS). */
      escaped?: true;
    }
  | { kind: "timeout"; stdout: string; stderr: string; escaped?: true }
  | { kind: "output_limit"; stdout: string; stderr: string }
  | { kind: "aborted" }
  | { kind: "spawn_error"; message: string };

const STDERR_LIMIT = 64 * 1024;

/** How long the output pipes may stay open after the command's process ended (its group killed). */
const EXIT_GRACE_MS = 500;

/** Process groups of commands still running: killed on shutdown so none outlives the gateway. */
const runningGroups = new Set<number>();
let exitHookInstalled = false;

/** Kills every running command's process group (shutdown). */
export function killAllCommands(): void {
  for (const pgid of runningGroups) {
    try {
      process.kill(-pgid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  runningGroups.clear();
}

function track(pgid: number): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Detached children survive their parent by design (own process group); this keeps them from doing so.
    process.once("exit", killAllCommands);
  }
  runningGroups.add(pgid);
}

export function runProcess(spec: RunSpec): Promise<RunOutcome> {
  return new Promise((resolve) => {
    if (spec.signal?.aborted) return resolve({ kind: "aborted" });
    let child;
    let wrappedRun = false;
    try {
      const argv = wrapped(spec.argv);
      wrappedRun = argv.length > spec.argv.length;
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: spec.cwd,
        env: spec.env,
        shell: false,
        detached: true,
        stdio: ["pipe", "pipe", "pipe"],
        windowsHide: true,
      });
    } catch (err) {
      return resolve({ kind: "spawn_error", message: (err as Error).message });
    }

    if (child.pid !== undefined) track(child.pid);
    const stdoutChunks: Buffer[] = [];
    let stdoutBytes = 0;
    let stderr = "";
    let stopReason: "timeout" | "output_limit" | "aborted" | null = null;
    let settled = false;

    const killGroup = () => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // ESRCH: the group is already gone.
      }
    };
    const stop = (reason: "timeout" | "output_limit" | "aborted") => {
      if (stopReason === null) stopReason = reason;
      killGroup();
    };

    const timer = setTimeout(() => stop("timeout"), spec.timeoutMs);
    let graceTimer: NodeJS.Timeout | undefined;
    const onAbort = () => stop("aborted");
    spec.signal?.addEventListener("abort", onAbort, { once: true });

    const finish = (outcome: RunOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(graceTimer);
      if (child.pid !== undefined) runningGroups.delete(child.pid);
      spec.signal?.removeEventListener("abort", onAbort);
      resolve(outcome);
    };

    child.stdout.on("data", (chunk: Buffer) => {
      if (stopReason !== null) return;
      const room = spec.outputLimit - stdoutBytes;
      if (chunk.length > room) {
        stdoutChunks.push(chunk.subarray(0, Math.max(room, 0)));
        stdoutBytes = spec.outputLimit;
        stop("output_limit");
        child.stdout.destroy(); // stop reading at once; the killed group cannot fill the pipe any more
        return;
      }
      stdoutChunks.push(chunk);
      stdoutBytes += chunk.length;
    });
    child.stderr.on("data", (chunk: Buffer) => {
      if (stderr.length < STDERR_LIMIT) stderr += chunk.toString("utf8").slice(0, STDERR_LIMIT - stderr.length);
    });
    // A child that exits without reading stdin makes our write fail with EPIPE: not an error of the run.
    child.stdin.on("error", () => {});
    child.stdout.on("error", () => {});
    child.stderr.on("error", () => {});

    child.on("error", (err) => {
      finish({ kind: "spawn_error", message: err.message });
      killGroup();
    });
    // `exit` fires when the child ends; background processes it left may still hold the pipes open, so the
    // group is killed here too, which lets `close` arrive. A process that left the group (setsid, without a PID
    // namespace) survives that kill and could hold the pipes forever — the gateway waited for `close` with no end,
    // past the timeout, holding a command slot. After a short grace the pipes are let go instead.
    let escaped = false;
    child.on("exit", () => {
      killGroup();
      graceTimer = setTimeout(() => {
        escaped = true;
        log.warn(
          { argv: spec.argv, pid: child.pid },
          "a command left processes that escaped its process group and hold its output open; they were not killed",
        );
        for (const stream of [child.stdin, child.stdout, child.stderr]) stream.destroy();
      }, EXIT_GRACE_MS);
    });
    child.on("close", (exitCode, signal) => {
      const stdout = Buffer.concat(stdoutChunks).toString("utf8");
      const left = escaped ? { escaped: true as const } : {};
      if (stopReason === "aborted") return finish({ kind: "aborted" });
      if (stopReason === "timeout") return finish({ kind: "timeout", stdout, stderr, ...left });
      if (stopReason === "output_limit") return finish({ kind: "output_limit", stdout, stderr });
      finish({ kind: "exited", ...throughWrapper(wrappedRun, exitCode, signal, stderr), stdout, stderr, ...left });
    });

    child.stdin.end(spec.stdin);
  });
}

/**
 * How the command itself ended. In its PID namespace the command runs under `unshare`, which passes a child's
 * exit code on and re-raises its signal, except SIGKILL: util-linux 2.38 then fails (`sigprocmask unblock failed`)
 * and exits 1, so a command the OOM killer (or an operator) killed was reported as "exited with code 1".
 */
function throughWrapper(
  wrappedRun: boolean,
  exitCode: number | null,
  signal: NodeJS.Signals | null,
  stderr: string,
): { exitCode: number | null; signal: NodeJS.Signals | null } {
  if (wrappedRun && exitCode === 1 && /^unshare: sigprocmask unblock failed/m.test(stderr)) {
    return { exitCode: null, signal: "SIGKILL" };
  }
  return { exitCode, signal };
}
