// Collects per-example outcomes across the contract test files and prints one coverage line at the end.
import { appendFileSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";

export const COVERAGE_FILE = resolve(import.meta.dirname, "../.tmp/contract-coverage.jsonl");

export function record(target: "prism" | "server" | "ws", name: string, outcome: "green" | "pending", note = ""): void {
  mkdirSync(resolve(COVERAGE_FILE, ".."), { recursive: true });
  appendFileSync(COVERAGE_FILE, JSON.stringify({ target, name, outcome, note }) + "\n");
}
