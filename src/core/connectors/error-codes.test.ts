// Every code a connector (or the engine around it) can put in `ActionResult.error_code` is listed in the spec's
// doc of that field and in the README, so an agent can act on each one and a new code cannot ship undocumented.
// The codes are read from the sources that emit them, not from a list kept beside them.
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { NOT_SENT_FAILURES } from "./types";

const repoRoot = resolve(import.meta.dirname, "../../..");
const read = (path: string) => readFileSync(join(repoRoot, path), "utf8");
const sourcesIn = (folder: string) =>
  readdirSync(join(repoRoot, folder))
    .filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"))
    .map((name) => read(join(folder, name)));
const CODE = /"([A-Z][A-Z0-9_]{2,})"/g;

/** The upper-case string literals the first group of each match of `pattern` holds. */
function literals(sources: string[], pattern: RegExp): string[] {
  return sources.flatMap((source) =>
    [...source.matchAll(pattern)].flatMap((match) => [...(match[1] ?? "").matchAll(CODE)].map((code) => code[1] ?? "")),
  );
}

function emittedCodes(): Set<string> {
  const connectors = sourcesIn("src/core/connectors");
  const purutos = sourcesIn("src/faces/purutos"); // the invoker a `puruto` tool runs through
  const engine = [
    "src/core/governance/connectors.ts",
    "src/core/governance/execute.ts",
    "src/core/governance/batch.ts",
  ];
  return new Set([
    ...NOT_SENT_FAILURES,
    // failure("CODE", …) and failure(x ? y : "CODE", …): connectors and puruto invocations
    ...literals([...connectors, read("src/faces/purutos/invoker.ts")], /\bfailure\(([^,]*),/g),
    // { ok: false, code: "CODE" } verdicts and `readonly code: "A" | "B"` errors of the network guard
    ...literals(connectors, /\bcode: ("[A-Z_]+")/g),
    ...literals(connectors, /\breadonly code: ([^,;\n]+)/g),
    // errors the puruto invoker throws (`readonly code = "CODE"`), passed on as the result's code
    ...literals(purutos, /\breadonly code = ("[A-Z_]+")/g),
    // the engine's own: a connector that threw, none available, a batch's skipped action, a command's default
    ...literals(engine.map(read), /\berror_code: ([^,\n]+)/g),
    ...literals(engine.map(read), /\bcode: ("[A-Z_]+")/g),
  ]);
}

/** The doc comment of `ActionResult.error_code` in spec/gateway.tsp. */
function specDoc(): string {
  const spec = read("spec/gateway.tsp");
  const doc = /\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*error_code\?: string;/.exec(
    spec.slice(spec.indexOf("model ActionResult")),
  );
  return doc?.[1] ?? "";
}

describe("ActionResult.error_code", () => {
  it("lists, in the spec and the README, every code a connector can answer", () => {
    const codes = emittedCodes();
    // The scan reads what it should (a pattern gone stale would pass vacuously).
    for (const known of ["UPSTREAM_HTTP_ERROR", "REDIRECT_NOT_FOLLOWED", "DNS_FAILED", "PURUTO_FAILED", "IPC_ERROR"])
      expect(codes).toContain(known);
    const doc = specDoc();
    const readme = read("README.md");
    expect([...codes].filter((code) => !doc.includes(`\`${code}\``))).toEqual([]);
    expect([...codes].filter((code) => !readme.includes(`\`${code}\``))).toEqual([]);
    // And nothing the spec names that no connector sends (the old example `UPSTREAM_ERROR`).
    expect(doc).not.toContain("`UPSTREAM_ERROR`");
  });

  it("tells apart the codes that give the budget unit back, as the engine does", () => {
    const doc = specDoc();
    const refunded = doc.slice(0, doc.indexOf("Every other code"));
    expect([...NOT_SENT_FAILURES].filter((code) => !refunded.includes(`\`${code}\``))).toEqual([]);
    const kept = [...emittedCodes()].filter((code) => !NOT_SENT_FAILURES.has(code));
    expect(kept.filter((code) => refunded.includes(`\`${code}\``))).toEqual([]);
  });
});
