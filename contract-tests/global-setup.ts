// Starts the one Prism mock the test files share, and prints the contract coverage line after all test files
// ran: examples total / green on Prism / green on server / pending (501), and the pending list.
import { existsSync, readFileSync, rmSync } from "node:fs";
import type { TestProject } from "vitest/node";
import { COVERAGE_FILE } from "./coverage";
import { collectCases } from "./examples";
import { freePort } from "./free-port";
import { launchPrism, type PrismMock } from "./prism";

declare module "vitest" {
  export interface ProvidedContext {
    /** The shared Prism mock's base URL; a test file awaits `waitForHttp` on it before its first call. */
    prismUrl: string;
  }
}

let prism: PrismMock | undefined;
let stopping = false;

// Prism is launched here, before the workers load the machine, and not awaited: the files that use it wait
// for it to answer, the others do not pay for it. One Prism for all files halves its start-up work.
export async function setup(project: TestProject): Promise<void> {
  rmSync(COVERAGE_FILE, { force: true });
  prism = launchPrism(await freePort());
  // A run that needs no mock may end before Prism answers: stopping it then is not a failure worth printing.
  prism.ready.catch((e: Error) => {
    if (!stopping) console.error(`the shared Prism mock did not start: ${e.message}`);
  });
  project.provide("prismUrl", prism.url);
}

export async function teardown(): Promise<void> {
  stopping = true;
  await prism?.stop();
  if (!existsSync(COVERAGE_FILE)) return;
  const rows = readFileSync(COVERAGE_FILE, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const total = collectCases().length;
  const count = (target: string, outcome: string) =>
    new Set(rows.filter((r) => r.target === target && r.outcome === outcome).map((r) => r.name)).size;
  const pending = [...new Set(rows.filter((r) => r.outcome === "pending").map((r) => `${r.name} (${r.note})`))];
  const ws = rows.filter((r) => r.target === "ws");
  console.log(
    `\ncontract coverage: REST examples ${total} · green on Prism ${count("prism", "green")} · ` +
      `green on server ${count("server", "green")} · pending (501) ${count("server", "pending")}` +
      (ws.length ? ` · WS examples valid ${count("ws", "green")}` : ""),
  );
  if (pending.length) console.log(`pending: ${pending.join(", ")}`);
}
