// "No function over ~150 lines" (issue #9), enforced: every non-test .ts/.tsx file under src/ and console/src/ is
// parsed with the TypeScript compiler (syntax only, no type checking, so it stays fast) and every function,
// arrow function, method, accessor and constructor whose body spans more than MAX_LINES lines is listed with its
// name, place and length. A nested function counts towards its parent too: a giant closure is what this catches.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative, resolve, sep } from "node:path";
import type * as TypeScript from "typescript";
import { describe, expect, it } from "vitest";

// Loaded with require: importing the 9 MB CommonJS compiler as an ES module first scans it for its export names,
// which doubles the load time of this test.
const ts: typeof TypeScript = createRequire(import.meta.url)("typescript");

const repoRoot = resolve(import.meta.dirname, "..");
const roots = ["src", "console/src"].map((folder) => join(repoRoot, folder));

/** Longest body allowed, in lines (from the line of its `{` to the line of its `}`). */
const MAX_LINES = 150;

/**
 * Functions still allowed over the limit, as "file › name". This list may only shrink: an entry that is no longer
 * over the limit (or no longer exists) fails the test, so it is removed in the commit that splits the function.
 */
const ALLOWED: ReadonlySet<string> = new Set<string>([]);

interface LongFunction {
  /** "file › name", the allow-list key. */
  key: string;
  where: string;
  lines: number;
}

/** Every non-test .ts/.tsx file under a folder, as absolute paths. */
function sourceFiles(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : sourceFiles(path);
    return /\.tsx?$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts")
      ? [path]
      : [];
  });
}

/** The name a reader would search for: the declaration's own, or the variable / property it is assigned to. */
function nameOf(
  node: TypeScript.FunctionLikeDeclaration,
  parent: TypeScript.Node | undefined,
  file: TypeScript.SourceFile,
): string {
  const named = (name: TypeScript.Node | undefined) => (name ? name.getText(file) : undefined);
  if (ts.isConstructorDeclaration(node)) return "constructor";
  const own = named(node.name);
  if (own) return own;
  if (!parent) return "<anonymous>";
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
    return named(parent.name) ?? "<anonymous>";
  if (ts.isBinaryExpression(parent)) return parent.left.getText(file);
  if (ts.isExportAssignment(parent)) return "default";
  return "<anonymous>";
}

/** The functions of one file (`path` is repo-relative) whose body is longer than MAX_LINES. */
function longFunctionsInSource(path: string, text: string): LongFunction[] {
  // Speed (the test parses every source file): syntax only, no JSDoc, no parent pointers (the walk passes the
  // parent down instead).
  const file = ts.createSourceFile(
    path,
    text,
    { languageVersion: ts.ScriptTarget.Latest, jsDocParsingMode: ts.JSDocParsingMode.ParseNone },
    false,
    path.endsWith(".tsx") ? ts.ScriptKind.TSX : ts.ScriptKind.TS,
  );
  const found: LongFunction[] = [];
  const lineOf = (position: number) => file.getLineAndCharacterOfPosition(position).line + 1;
  // Enclosing function names, so a long method reads as `createThing › method`.
  const enclosing: string[] = [];
  const visit = (node: TypeScript.Node, parent: TypeScript.Node | undefined): void => {
    const children = () => ts.forEachChild(node, (child) => visit(child, node));
    if (!(ts.isFunctionLike(node) && "body" in node && node.body)) return void children();
    const fn = node as TypeScript.FunctionLikeDeclaration;
    const body = fn.body!;
    const name = nameOf(fn, parent, file);
    const lines = lineOf(body.getEnd()) - lineOf(body.getStart(file)) + 1;
    if (lines > MAX_LINES) {
      const key = [path, ...enclosing, name].join(" › ");
      found.push({ key, where: `${path}:${lineOf(fn.getStart(file))}`, lines });
    }
    enclosing.push(name);
    children();
    enclosing.pop();
  };
  visit(file, undefined);
  return found;
}

function longFunctionsIn(absolutePath: string): LongFunction[] {
  const path = relative(repoRoot, absolutePath).split(sep).join("/");
  const text = readFileSync(absolutePath, "utf8");
  // A file of at most MAX_LINES lines cannot hold a longer body: not parsed at all (most files).
  let newlines = 0;
  for (let at = text.indexOf("\n"); at !== -1 && newlines < MAX_LINES; at = text.indexOf("\n", at + 1)) newlines++;
  return newlines < MAX_LINES ? [] : longFunctionsInSource(path, text);
}

/** `count` statements, one a line. */
const statements = (count: number) => Array.from({ length: count - 2 }, (_, i) => `  step(${i});`).join("\n");

describe("function size (issue #9: no function over ~150 lines)", () => {
  const all = roots.flatMap(sourceFiles).flatMap(longFunctionsIn);

  it("reads the sources it is meant to guard", () => {
    // A broken walk (wrong root, everything filtered out) must not pass silently.
    const files = roots.flatMap(sourceFiles).map((file) => relative(repoRoot, file).split(sep).join("/"));
    expect(files).toContain("src/server.ts");
    expect(files).toContain("console/src/main.tsx");
    expect(files.some((file) => file.endsWith(".test.ts"))).toBe(false);
  });

  it("measures a body from its `{` line to its `}` line, and names a method by its enclosing function", () => {
    const source = [
      `export function createThing() {`,
      `  return {`,
      `    long() {\n${statements(MAX_LINES + 1)}\n    },`,
      `    fits: () => {\n${statements(MAX_LINES)}\n    },`,
      `  };`,
      `}`,
      `export const arrow = async () => {\n${statements(MAX_LINES + 1)}\n};`,
      `class Store {\n  read(): void {\n${statements(MAX_LINES + 1)}\n  }\n}`,
    ].join("\n");
    const found = longFunctionsInSource("src/example.ts", source).map(({ key, where, lines }) => ({
      key,
      where,
      lines,
    }));
    expect(found).toEqual([
      // `fits` spans exactly MAX_LINES lines and is allowed; the outer function holds both methods, so it is not.
      { key: "src/example.ts › createThing", where: "src/example.ts:1", lines: 2 * MAX_LINES + 5 },
      { key: "src/example.ts › createThing › long", where: "src/example.ts:3", lines: MAX_LINES + 1 },
      expect.objectContaining({ key: "src/example.ts › arrow", lines: MAX_LINES + 1 }),
      expect.objectContaining({ key: "src/example.ts › read", lines: MAX_LINES + 1 }),
    ]);
  });

  it(`has no function, arrow function or method whose body spans more than ${MAX_LINES} lines`, () => {
    const offenders = all
      .filter((fn) => !ALLOWED.has(fn.key))
      .map((fn) => `${fn.key.split(" › ").slice(1).join(" › ")} at ${fn.where}: ${fn.lines} lines`);
    expect(offenders, "split these into smaller named functions or modules").toEqual([]);
  });

  it("allows only functions that are still over the limit (the allow list may only shrink)", () => {
    const stillLong = new Set(all.map((fn) => fn.key));
    const stale = [...ALLOWED].filter((key) => !stillLong.has(key));
    expect(stale, "no longer over the limit: remove them from ALLOWED").toEqual([]);
  });
});
