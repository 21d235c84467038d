// The layering rules of ARCHITECTURE.md, enforced: a face never imports another face, and the core never imports a
// face or the HTTP layer. Every .ts file under src/ is read and its import specifiers are resolved to repo paths,
// so a break fails here naming the file and the import, not in review.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, expect, it } from "vitest";

const repoRoot = resolve(import.meta.dirname, "..");
const srcRoot = join(repoRoot, "src");

/** Every .ts/.tsx file under a folder, as absolute paths. */
function typeScriptFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : typeScriptFiles(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** Module specifiers of static imports, re-exports, `import("…")` expressions and `import x = require("…")`. */
function importSpecifiers(source: string): string[] {
  const withoutComments = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const patterns = [
    /\b(?:import|export)\s[^"'`;]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...withoutComments.matchAll(pattern)].map((match) => match[1] ?? ""));
}

/** The repo-relative path (forward slashes) a relative specifier points to; undefined for packages. */
function resolvedTarget(importingFile: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  return relative(repoRoot, resolve(dirname(importingFile), specifier))
    .split(sep)
    .join("/");
}

/** The face a repo-relative path belongs to (`src/faces/<face>/…`), if any. */
function faceOf(repoPath: string): string | undefined {
  return /^src\/faces\/([^/]+)(?:\/|$)/.exec(repoPath)?.[1];
}

/** The rule an import breaks, or undefined when it is allowed. */
function layeringViolation(importer: string, target: string): string | undefined {
  const importerFace = faceOf(importer);
  const targetFace = faceOf(target);
  if (importerFace && targetFace && importerFace !== targetFace) {
    return `face "${importerFace}" imports face "${targetFace}"`;
  }
  if (importer.startsWith("src/core/")) {
    if (target.startsWith("src/faces/") || target === "src/faces") return "core imports a face";
    if (target.startsWith("src/http/") || target === "src/http") return "core imports the HTTP layer";
  }
  return undefined;
}

function allViolations(): string[] {
  return typeScriptFiles(srcRoot).flatMap((file) => {
    const importer = relative(repoRoot, file).split(sep).join("/");
    return importSpecifiers(readFileSync(file, "utf8")).flatMap((specifier) => {
      const target = resolvedTarget(file, specifier);
      const rule = target === undefined ? undefined : layeringViolation(importer, target);
      return rule ? [`${importer} imports "${specifier}" (${rule})`] : [];
    });
  });
}

describe("layering", () => {
  it("no face imports another face, and src/core imports neither src/faces nor src/http", () => {
    expect(allViolations()).toEqual([]);
  });

  it("recognises every import form and the rules it must enforce (so the check above can fail)", () => {
    const source = [
      'import { a } from "../../faces/oversight/handlers";',
      'import type { B } from "../http/problem";',
      'export * from "./local";',
      'import "../side-effect";',
      'const lazy = await import("../lazy");',
      '// import { ignored } from "../commented-out";',
    ].join("\n");
    expect(importSpecifiers(source)).toEqual([
      "../../faces/oversight/handlers",
      "../http/problem",
      "./local",
      "../side-effect",
      "../lazy",
    ]);
    expect(layeringViolation("src/faces/actions/handlers.ts", "src/faces/oversight/handlers")).toMatch(/face/);
    expect(layeringViolation("src/core/audit/log.ts", "src/http/problem")).toMatch(/HTTP/);
    expect(layeringViolation("src/core/audit/log.ts", "src/faces/sessions/frames")).toMatch(/core imports a face/);
    expect(layeringViolation("src/faces/actions/handlers.ts", "src/faces/actions/e2e/helpers")).toBeUndefined();
    expect(layeringViolation("src/faces/actions/handlers.ts", "src/core/audit/log")).toBeUndefined();
    expect(layeringViolation("src/http/app.ts", "src/faces/actions/handlers")).toBeUndefined();
  });
});
