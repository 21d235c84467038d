// Prints the contract coverage line after all test files ran:
// examples total / green on Prism / green on server / pending (501), and the pending list.
import { existsSync, readFileSync, rmSync } from "node:fs";
import { COVERAGE_FILE } from "./coverage";
import { collectCases } from "./examples";

export function setup(): void {
  rmSync(COVERAGE_FILE, { force: true });
}

export function teardown(): void {
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
