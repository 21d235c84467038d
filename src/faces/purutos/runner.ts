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
// - The spawned process gets a parent-death signal (`setpriv --pdeathsig KILL`, where util-linux has it): a
//   gateway killed without running its exit hooks (SIGKILL, the OOM killer) takes `unshare`, and with it the
//   command's namespace, along. Without a namespace it reaches the command's first process only.
// - In that mount namespace the gateway's own files are hidden before the command starts (HIDE_SCRIPT): an empty
//   tmpfs over the data directory (its HMAC secret, the dev issuer's private key, the SQLite database with the audit
//   signing keys), /dev/null over a database file kept elsewhere. A run whose files could not be hidden never
//   starts the command (`spawn_error`). Without a mount namespace they stay readable, and one log line says so.
// - The command gets stdin, stdout and stderr, no other file descriptor. libuv closes nothing else on spawn: a
//   descriptor the gateway inherited without close-on-exec (a supervisor's pipe, a log file, a socket) stayed open
//   in every command. A shell closes every descriptor above 2 just before it execs the command (CLOSE_FDS_SCRIPT).
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { accessSync, constants, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { logger } from "../../core/log/logger";
import { isInside } from "./containment";

const log = logger.child({ module: "purutos" });

/** `setpriv --pdeathsig KILL --` when it works here (probed once), else nothing. */
let parentDeathPrefix: string[] | undefined;

/** The prefix that makes a spawned process die with the gateway (see the header), or [] where there is none. */
export function parentDeathSignalPrefix(): string[] {
  if (parentDeathPrefix !== undefined) return parentDeathPrefix;
  const prefix = ["setpriv", "--pdeathsig", "KILL", "--"];
  const probe =
    process.platform === "linux"
      ? spawnSync(prefix[0]!, [...prefix.slice(1), "true"], { stdio: "ignore", timeout: 5_000 })
      : undefined;
  parentDeathPrefix = probe?.status === 0 ? prefix : [];
  if (!parentDeathPrefix.length)
    log.warn("setpriv --pdeathsig is not available: a command may outlive a gateway killed with SIGKILL");
  return parentDeathPrefix;
}

/** The namespace form that works here (probed once), or null when only the process group is available. */
let namespaceForm: NamespaceForm | null | undefined;

/**
 * One way to run a command in its own namespaces: the `unshare` prefix; with a mount namespace, also how the
 * gateway's files are hidden in it (`hiding`, see HIDE_SCRIPT).
 *
 * Hiding takes two steps because a mount hides nothing from whoever may unmount it. `outer` creates the namespaces
 * and runs HIDE_SCRIPT with the capabilities that mounting needs (real root in the first form; root of its own user
 * namespace, `--map-root-user`, in the second). `inner` then execs the command in a nested user namespace, where it
 * has no capability over the mount namespace the mounts were made in (umount: EPERM), and where any mount namespace
 * it creates itself gets those mounts locked (the kernel never unmounts or moves a mount inherited from a more
 * privileged namespace, so what lies beneath stays covered). The command keeps the identity it has with the plain
 * prefix: uid 0 under a root gateway (`--map-root-user`: uid 0 mapped to itself, with capabilities only inside that
 * nested namespace, so it no longer overrides permissions on other users' files), the unmapped `nobody` under the
 * `--user` form.
 */
interface NamespaceForm {
  prefix: string[];
  hiding?: { outer: string[]; inner: string[] };
}

const PID_NS = ["--pid", "--fork", "--kill-child"];

const NAMESPACE_FORMS: NamespaceForm[] = [
  // With its own mount namespace and a /proc of its PID namespace, a command sees only its own processes: with
  // the host's /proc it could read every process's start-up environment (/proc/<pid>/environ — the gateway's API
  // keys, database URL and secrets), since it runs as the gateway's user.
  {
    prefix: ["unshare", ...PID_NS, "--mount", "--mount-proc"],
    hiding: {
      outer: ["unshare", ...PID_NS, "--mount", "--mount-proc"],
      inner: ["unshare", "--user", "--map-root-user", "--"],
    },
  },
  {
    prefix: ["unshare", "--user", ...PID_NS, "--mount", "--mount-proc"],
    hiding: {
      outer: ["unshare", "--user", "--map-root-user", ...PID_NS, "--mount", "--mount-proc"],
      inner: ["unshare", "--user", "--"],
    },
  },
  // Without a mount namespace: the PID namespace alone (the process tree still dies whole).
  { prefix: ["unshare", ...PID_NS] },
  // Without root: an unprivileged user namespace owns the PID namespace.
  { prefix: ["unshare", "--user", ...PID_NS] },
];

export function pidNamespacePrefix(): string[] | null {
  return pidNamespaceForm()?.prefix ?? null;
}

function pidNamespaceForm(): NamespaceForm | null {
  if (namespaceForm !== undefined) return namespaceForm;
  namespaceForm = null;
  if (process.platform === "linux" && process.env.GATEHOUSE_COMMAND_PID_NAMESPACE !== "off") {
    for (const form of NAMESPACE_FORMS) {
      const [program, ...args] = form.prefix;
      const probe = spawnSync(program!, [...args, "true"], { stdio: "ignore", timeout: 5_000 });
      if (probe.status === 0) {
        namespaceForm = form;
        break;
      }
    }
  }
  if (namespaceForm === null) {
    log.warn(
      "commands run in a process group only (no PID namespace available): a command that calls setsid or double-forks may leave processes behind after a timeout",
    );
  } else {
    log.info(
      { prefix: namespaceForm.prefix.join(" ") },
      "commands run in their own PID namespace: the whole process tree dies at timeout or abort",
    );
  }
  return namespaceForm;
}

/** What a command must not read: the gateway's data directory, its database file kept elsewhere, its .env. */
export interface HiddenPaths {
  /** Absolute. An empty read-only tmpfs is mounted over it. */
  dataDir: string;
  /** Absolute files outside `dataDir` (a SQLite database and its -wal/-shm/-journal, the .env); /dev/null over each present. */
  files: string[];
}

/**
 * The paths to hide for a data directory and a SQLite database file (null: PostgreSQL, no file). The database's
 * own folder is not overmounted: it may be any folder (the gateway's working directory, /var/lib/…) holding what
 * commands need, while binding /dev/null over each file hides exactly the database. Its -wal and -shm exist as long
 * as the gateway has it open (WAL mode); a -journal only while one is written. Symlinks are resolved here, since
 * SQLite keeps its -wal next to the real file. `dotEnvFile`: the .env the gateway read its settings from, hidden
 * when it is a regular file (a folder of that name is nobody's secret, and /dev/null cannot cover it).
 */
export function hiddenPaths(dataDir: string, databaseFile: string | null, dotEnvFile?: string): HiddenPaths {
  const dir = path.resolve(dataDir);
  const realDir = realPathOf(dir);
  const outside = (file: string) => !isInside(realDir, file);
  const files: string[] = [];
  if (databaseFile !== null && databaseFile !== "" && databaseFile !== ":memory:") {
    const db = realPathOf(path.resolve(databaseFile));
    if (outside(db)) for (const suffix of ["", "-wal", "-shm", "-journal"]) files.push(db + suffix);
  }
  // The gateway's .env holds its API keys, GATEHOUSE_SECRET and DATABASE_URL's password: hidden like the data.
  if (dotEnvFile !== undefined) {
    const env = realPathOf(path.resolve(dotEnvFile));
    if (outside(env) && isRegularFile(env)) files.push(env);
  }
  return { dataDir: dir, files };
}

function isRegularFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The real path of `file`, or of its folder joined with its name while it does not exist (yet). */
function realPathOf(file: string): string {
  try {
    return realpathSync(file);
  } catch {
    const parent = path.dirname(file);
    return parent === file ? file : path.join(realPathOf(parent), path.basename(file));
  }
}

/**
 * Run by /bin/sh as PID 1 of the new namespaces, before the command: `$1` is the data directory, then come the
 * files to hide, `--`, and the argv to exec (`inner`, then the command). Every path and argument is a positional
 * parameter, never part of this text. The files are covered first (a database inside the data directory is covered
 * by its tmpfs anyway), a path that does not exist is skipped (nothing to read there), and any failure exits before
 * the command runs. Once everything is hidden it writes one byte to fd 3, the runner's proof that the command was
 * started hidden, and closes fd 3 so the command never has it.
 *
 * The mounts are private to the namespace (`unshare --mount` makes its copy private): the gateway keeps seeing its
 * files. A command whose working directory lies inside the data directory keeps it (a process's cwd survives an
 * ancestor being overmounted), but every path through the data directory, `..` from there included, meets the
 * empty tmpfs. Discovery never gives a puruto such a folder anyway (see `forbidden` in scan.ts).
 */
const HIDE_SCRIPT = [
  "dir=$1; shift",
  'while [ "$#" -gt 0 ] && [ "$1" != -- ]; do',
  '  if [ -e "$1" ] && ! mount --bind /dev/null "$1" && [ -e "$1" ]; then exit 125; fi',
  "  shift",
  "done",
  '[ "$1" = -- ] || exit 125',
  "shift",
  'if [ -e "$dir" ]; then mount -t tmpfs -o ro,size=4k,mode=0700 gatehouse-hidden "$dir" || exit 125; fi',
  "printf 1 >&3 || exit 125",
  "exec 3>&-",
  'exec "$@"',
].join("\n");

/**
 * Run by a shell as the last step before the command: `$1` names the variables the shells on the way add to the
 * environment (PWD, SHLVL…) that the gateway did not pass, then comes the argv to exec. It closes every file
 * descriptor above 2 it has, then execs the command. The gateway opens its own descriptors close-on-exec, but not
 * the ones it inherited (see the header), and libuv leaves those open in a child. dash redirects descriptors 0-9
 * only, bash any: where one above 9 is still open after the first loop (no bash here), the command is not started
 * (exit 125, CLOSE_FDS_FAILED on stderr), as a command whose files could not be hidden is not. The glob's own handle
 * on /dev/fd is closed once it is expanded, so the check skips what no longer exists. bash's `exec` exports SHLVL
 * whatever was unset, so under bash the command is exec'd through `env -u`.
 */
const CLOSE_FDS_SCRIPT = [
  "added=$1; shift",
  "for f in /dev/fd/*; do",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
  "  n=${f##*/}",
  "  case $n in",
  "    0 | 1 | 2 | *[!0-9]*) ;;",
  '    [3-9]) eval "exec $n>&-" ;;',
  '    *) if [ -n "$BASH_VERSION" ]; then eval "exec $n>&-"; fi ;;',
  "  esac",
  "done",
  "for f in /dev/fd/*; do",
  "  case $f in /dev/fd/0 | /dev/fd/1 | /dev/fd/2) continue ;; esac",
  '  if [ -e "$f" ]; then echo "$0: CLOSE_FDS_FAILED $f" >&2; exit 125; fi',
  "done",
  'for v in $added; do unset "$v"; done',
  'if [ -n "$BASH_VERSION" ]; then',
  '  set -- -- "$@"',
  '  for v in $added; do set -- -u "$v" "$@"; done',
  '  exec /usr/bin/env "$@"',
  "fi",
  'exec "$@"',
].join("\n");

/** What stderr starts with when CLOSE_FDS_SCRIPT refused to start the command. */
const CLOSE_FDS_FAILED = /^gatehouse-fds: CLOSE_FDS_FAILED \/dev\/fd\/(\d+)$/m;

/** Variables a shell on the way may export to the command: unset before it runs, unless the gateway passed them. */
const SHELL_ADDED = ["PWD", "OLDPWD", "SHLVL", "_"];

/** The shell that runs CLOSE_FDS_SCRIPT (probed once), or [] where there is none. */
let closeFdsShell: string[] | undefined;

function closeFdsShellArgv(): string[] {
  if (closeFdsShell !== undefined) return closeFdsShell;
  const executable = (file: string) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  // bash closes any descriptor (dash only 0-9), and needs env to exec without its SHLVL. It reads ~/.bashrc when
  // its stdin is a socket (libuv's pipes are: it takes them for sshd's) unless --norc, and $BASH_ENV unless --posix.
  const bash = executable("/usr/bin/env") ? ["/bin/bash", "/usr/bin/bash"].find(executable) : undefined;
  if (bash !== undefined) closeFdsShell = [bash, "--norc", "--noprofile", "--posix"];
  else if (executable("/bin/sh")) closeFdsShell = ["/bin/sh"];
  else {
    closeFdsShell = [];
    log.warn("no shell at /bin/sh: commands keep every file descriptor the gateway inherited without close-on-exec");
  }
  return closeFdsShell;
}

/** The prefix that runs a command with `env` through CLOSE_FDS_SCRIPT, or [] where there is no shell. */
export function closeFdsPrefix(env: Record<string, string>): string[] {
  const shell = closeFdsShellArgv();
  if (shell.length === 0) return [];
  const added = SHELL_ADDED.filter((name) => !Object.hasOwn(env, name)).join(" ");
  return [...shell, "-c", CLOSE_FDS_SCRIPT, "gatehouse-fds", added];
}

function hidingArgv(hiding: NonNullable<NamespaceForm["hiding"]>, hidden: HiddenPaths, argv: string[]): string[] {
  return [
    ...hiding.outer,
    "/bin/sh",
    "-c",
    HIDE_SCRIPT,
    "gatehouse-hide",
    hidden.dataDir,
    ...hidden.files,
    "--",
    ...hiding.inner,
    ...argv,
  ];
}

export type DataDirHiding = { hidden: true } | { hidden: false; why: string };

/** Whether commands run with the gateway's files hidden (probed once, logged once), see HIDE_SCRIPT. */
let hidingState: DataDirHiding | undefined;

/**
 * Whether commands given `hidden` paths run with them hidden, and if not why: probed once (a tmpfs and a /dev/null
 * bind in a throw-away namespace, checked from a nested command) and logged once. Called at start-up
 * (createInvoker); when it is not hidden, commands run as before and can read the data directory.
 */
export function dataDirHiding(): DataDirHiding {
  if (hidingState === undefined) {
    const form = pidNamespaceForm();
    if (process.platform !== "linux") hidingState = { hidden: false, why: "not Linux" };
    else if (process.env.GATEHOUSE_COMMAND_PID_NAMESPACE === "off")
      hidingState = { hidden: false, why: "GATEHOUSE_COMMAND_PID_NAMESPACE=off" };
    else if (form?.hiding === undefined) hidingState = { hidden: false, why: "no mount namespace available" };
    else hidingState = probeHiding(form.hiding);
    if (hidingState.hidden) {
      log.info(
        "commands run with the gateway's data directory hidden (an empty tmpfs over it in their mount namespace)",
      );
    } else {
      log.warn(
        { reason: hidingState.why },
        "commands can read the gateway's data directory (installation secret, dev issuer key, database): they run as the gateway's user and nothing hides it from them",
      );
    }
  }
  return hidingState;
}

function probeHiding(hiding: NonNullable<NamespaceForm["hiding"]>): DataDirHiding {
  let scratch: string | undefined;
  try {
    scratch = mkdtempSync(path.join(tmpdir(), "gatehouse-hide-probe-"));
    const dataDir = path.join(scratch, "data");
    const database = path.join(scratch, "database");
    mkdirSync(dataDir);
    writeFileSync(path.join(dataDir, "secret"), "probe");
    writeFileSync(database, "probe");
    // The nested command must find neither the data directory's file nor the database's bytes.
    const check = ["/bin/sh", "-c", '! [ -e "$1" ] && ! [ -s "$2" ]', "sh", path.join(dataDir, "secret"), database];
    const argv = hidingArgv(hiding, { dataDir, files: [database] }, check);
    const probe = spawnSync(argv[0]!, argv.slice(1), {
      stdio: ["ignore", "ignore", "pipe", "pipe"],
      timeout: 5_000,
      encoding: "utf8",
    });
    if (probe.status === 0 && probe.output[3] === "1") return { hidden: true };
    const stderr = typeof probe.stderr === "string" ? probe.stderr.trim() : "";
    return {
      hidden: false,
      why: `mount probe failed (${probe.error?.message ?? `exit ${probe.status}`}): ${stderr.slice(0, 500)}`,
    };
  } catch (err) {
    return { hidden: false, why: `mount probe failed: ${(err as Error).message}` };
  } finally {
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  }
}

/**
 * The argv actually spawned, and whether it hides `hidden` (then fd 3 must be a pipe, see HIDE_SCRIPT). A missing
 * or non-executable program is refused here, as spawn would refuse it (unshare would otherwise report it as an
 * ordinary failed exit).
 */
function wrapped(spec: RunSpec): { argv: string[]; hiding: boolean } {
  const { argv, hidden } = spec;
  const form = pidNamespaceForm();
  const program = argv[0]!;
  // Checked here for every run: a prefix (unshare, setpriv) would otherwise report a missing program as its own exit.
  if (program.includes("/")) accessSync(program, constants.X_OK);
  const command = [...closeFdsPrefix(spec.env), ...argv];
  if (form === null) return { argv: command, hiding: false };
  if (hidden !== undefined && form.hiding !== undefined && dataDirHiding().hidden) {
    for (const p of [hidden.dataDir, ...hidden.files]) {
      // Never taken for an option of mount, nor for the script's `--`.
      if (!path.isAbsolute(p)) throw new Error(`cannot hide ${p} from it: not an absolute path`);
    }
    // Its cwd survives the tmpfs: the data directory itself as cwd would leave every file in it readable (`cat
    // secret`). A folder inside it is only that folder (discovery gives a puruto neither, see scan.ts).
    if (realPathOf(spec.cwd) === realPathOf(hidden.dataDir)) {
      throw new Error("its working directory is the gateway's data directory, which commands must not see");
    }
    return { argv: hidingArgv(form.hiding, hidden, command), hiding: true };
  }
  return { argv: [...form.prefix, ...command], hiding: false };
}

export interface RunSpec {
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  stdin: string;
  timeoutMs: number;
  outputLimit: number;
  signal?: AbortSignal | undefined;
  /**
   * The gateway's files the command must not read (see hiddenPaths). Hidden where a mount namespace allows it
   * (dataDirHiding); a run where hiding them fails is a `spawn_error`, the command never started.
   */
  hidden?: HiddenPaths | undefined;
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
    let child: ChildProcessWithoutNullStreams;
    let wrappedRun = false;
    let hiding = false;
    try {
      const run = wrapped(spec);
      wrappedRun = run.argv.length > spec.argv.length;
      hiding = run.hiding;
      // setpriv execs what follows: the spawned process stays the one whose group, exit and stderr are read below.
      const argv = [...parentDeathSignalPrefix(), ...run.argv];
      // fds 0-2 are always pipes; fd 3 is one only while hiding (the script's proof), else it stays closed.
      child = spawn(argv[0]!, argv.slice(1), {
        cwd: spec.cwd,
        env: spec.env,
        shell: false,
        detached: true,
        stdio: ["pipe", "pipe", "pipe", hiding ? "pipe" : "ignore"],
        windowsHide: true,
      }) as ChildProcessWithoutNullStreams;
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
    // The hiding script writes one byte on fd 3 once the data directory is hidden, just before it execs the command.
    const proof = hiding ? (child.stdio[3] as Readable | null) : null;
    let proven = false;
    proof?.on("data", () => {
      proven = true;
    });
    proof?.on("error", () => {});

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
        for (const stream of [child.stdin, child.stdout, child.stderr, proof]) stream?.destroy();
      }, EXIT_GRACE_MS);
    });
    child.on("close", (exitCode, signal) => {
      const stdout = Buffer.concat(stdoutChunks).toString("utf8");
      const left = escaped ? { escaped: true as const } : {};
      if (stopReason === "aborted") return finish({ kind: "aborted" });
      if (stopReason === "timeout") return finish({ kind: "timeout", stdout, stderr, ...left });
      if (stopReason === "output_limit") return finish({ kind: "output_limit", stdout, stderr });
      // The script gave up before the command started: report why (its stderr is all mount's), never an exit.
      if (hiding && !proven) {
        const why = stderr.trim().slice(0, 500) || `the wrapper exited with ${signal ?? `code ${exitCode}`}`;
        return finish({ kind: "spawn_error", message: `could not hide the gateway's data directory from it: ${why}` });
      }
      const unclosed = exitCode === 125 ? CLOSE_FDS_FAILED.exec(stderr) : null;
      if (unclosed !== null) {
        const message = `could not close file descriptor ${unclosed[1]} the gateway inherited (no bash here)`;
        return finish({ kind: "spawn_error", message });
      }
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
