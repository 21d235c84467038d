// WAL checkpoints off the event loop. SQLite checkpoints the write-ahead log on the commit that grows it past
// `wal_autocheckpoint` pages — synchronously, copying the WAL into the database file and syncing it, inside that
// commit, on the event loop. Measured on this machine (30-row group commits of 1.5 KB records): commit p99 96 ms
// and max 254 ms with the default (1000 pages), 27 / 100 ms without; every request waiting on the event loop pays
// that stall. Here a worker thread with its own connection to the same file checkpoints (PASSIVE: never waits for
// the writer, never blocks it) every `intervalMs`; the server's connection keeps a far larger autocheckpoint only
// as a backstop in case the worker is gone, so the WAL stays bounded whatever happens.
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { Db } from "./sqlite";

/** The server connection's own checkpoint threshold while a worker checkpoints (≈ 80 MiB of WAL at 4 KiB pages). */
const BACKSTOP_PAGES = 20_000;

// The worker is plain CommonJS given as source (not a file of its own), so it runs the same under tsx, vitest and
// the bundled dist/ build. It loads the very driver the server uses (resolved here, passed in).
const WORKER_SOURCE = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma("busy_timeout = 5000");
const checkpoint = () => {
  try {
    const [result] = db.pragma("wal_checkpoint(PASSIVE)");
    if (workerData.report) parentPort.postMessage({ checkpoint: result });
  } catch (err) {
    parentPort.postMessage({ error: String(err && err.message || err) });
  }
};
const timer = setInterval(checkpoint, workerData.intervalMs);
parentPort.on("message", (message) => {
  if (message !== "stop") return;
  clearInterval(timer);
  checkpoint();
  db.close();
  parentPort.postMessage({ stopped: true });
  parentPort.close();
});
`;

export interface WalCheckpointer {
  /** Resolves once the worker thread runs. */
  online: Promise<void>;
  /** Stops the worker after one last checkpoint. */
  stop(): Promise<void>;
}

/** What one checkpoint did (SQLite's wal_checkpoint row): WAL frames in the log, and how many reached the file. */
export interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

export function startWalCheckpointer(
  db: Db,
  options: {
    intervalMs?: number;
    onError?: (message: string) => void;
    /** Told every checkpoint's result (tests observe the worker's checkpoints with it; off otherwise). */
    onCheckpoint?: (result: CheckpointResult) => void;
  } = {},
): WalCheckpointer | undefined {
  if (db.memory) return undefined;
  const driver = createRequire(import.meta.url).resolve("better-sqlite3");
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: {
      driver,
      file: db.name,
      intervalMs: options.intervalMs ?? 200,
      report: options.onCheckpoint !== undefined,
    },
  });
  // The worker never keeps the process alive: a server that closed without stop() still exits.
  worker.unref();
  db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  let stopped: Promise<void> | undefined;
  let exited = false;
  worker.once("exit", () => {
    exited = true;
  });
  worker.on("message", (message: { error?: string; checkpoint?: CheckpointResult }) => {
    if (message.error) options.onError?.(message.error);
    if (message.checkpoint) options.onCheckpoint?.(message.checkpoint);
  });
  worker.on("error", (err) => {
    // Without the worker, the server's connection checkpoints on its own again, as SQLite does by default.
    options.onError?.(err.message);
    if (db.open) db.pragma("wal_autocheckpoint = 1000");
  });
  const online = new Promise<void>((resolve) => {
    worker.once("online", () => resolve());
    worker.once("exit", () => resolve());
  });
  return {
    online,
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (exited) return resolve();
        worker.once("exit", () => resolve());
        worker.once("message", (message: { stopped?: boolean }) => {
          if (message.stopped) void worker.terminate();
        });
        worker.postMessage("stop");
      });
      return stopped;
    },
  };
}
