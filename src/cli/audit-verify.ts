// `gatehouse audit verify FILE --jwks FILE|URL`: checks an exported audit log (JSONL, one record per line)
// offline, with nothing but the public keys: seq continuity per org, prev_hash links, each record's hash and
// its Ed25519 signature. Exit 0 when every record verifies, 1 when one does not (the first is named),
// 2 on a usage error or an unreadable input.
//
// What it cannot see: records cut off the END of an export (every prefix of a valid chain is valid). Compare
// the last seq/hash printed here with the live head (`GET …/audit` or the org's latest record) when that matters.
import { createPublicKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { canonicalJson } from "../core/audit/canonical";
import { verifyRecords } from "../core/audit/verify";

export interface CliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

const defaultIo: CliIo = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
};

const USAGE = "usage: gatehouse audit verify EXPORT.jsonl --jwks JWKS.json|https://…/jwks.json";

export async function runAuditVerify(argv: readonly string[], io: CliIo = defaultIo): Promise<number> {
  const parsed = parseArgs(argv);
  if ("error" in parsed) {
    io.stderr(parsed.error);
    io.stderr(USAGE);
    return 2;
  }

  let keys: Map<string, KeyObject>;
  try {
    keys = jwksToKeys(await loadJwks(parsed.jwks));
  } catch (err) {
    io.stderr(`cannot load JWKS from ${parsed.jwks}: ${(err as Error).message}`);
    return 2;
  }

  let text: string;
  try {
    text = await readFile(parsed.file, "utf8");
  } catch (err) {
    io.stderr(`cannot read ${parsed.file}: ${(err as Error).message}`);
    return 2;
  }

  const lines = text.split("\n");
  let unparsable: { line: number; message: string } | undefined;
  const records = (function* () {
    for (const [index, line] of lines.entries()) {
      if (line.trim() === "") continue;
      const problem = lineProblem(line);
      if (problem) {
        unparsable = { line: index + 1, message: problem };
        return;
      }
      yield JSON.parse(line) as unknown;
    }
  })();

  const result = verifyRecords(records, (kid) => keys.get(kid));
  if (unparsable && result.valid) {
    io.stderr(`FAIL: line ${unparsable.line} ${unparsable.message}; ${result.records} record(s) before it verified`);
    return 1;
  }
  if (!result.valid) {
    const where = [
      `seq ${result.first_invalid_seq ?? "?"}`,
      `interaction_id ${result.interaction_id ?? "?"}`,
      `org_id ${result.org_id ?? "?"}`,
    ].join(", ");
    io.stderr(`FAIL: record ${where}: ${result.reason}`);
    io.stderr(`${result.records} record(s) before it verified`);
    return 1;
  }
  if (result.records === 0) {
    io.stderr(`FAIL: ${parsed.file} holds no records`);
    return 1;
  }
  io.stdout(
    `OK: ${result.records} record(s) in ${result.orgs} org chain(s) verified (hash chain, seq continuity, Ed25519 signatures; ${keys.size} key(s) in JWKS)`,
  );
  return 0;
}

/**
 * Strict reading: a line must be exactly the canonical JSON (RFC 8785) of the record it holds. A duplicate key
 * (which JSON.parse would silently resolve to its last value), reordered keys, extra whitespace or another
 * number spelling all make a line that two readers could understand differently; the export never writes one.
 */
function lineProblem(line: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch (err) {
    return `is not JSON (${(err as Error).message})`;
  }
  let canonical: string;
  try {
    canonical = canonicalJson(parsed);
  } catch (err) {
    return `is not representable as canonical JSON (${(err as Error).message})`;
  }
  if (canonical === line) return null;
  if (hasDuplicateKeys(line)) return "has duplicate keys in one object";
  return "is not canonical JSON (RFC 8785: sorted keys, no whitespace, shortest number form)";
}

/** Finds a key repeated in one object of a JSON text (the text is already known to parse). */
function hasDuplicateKeys(text: string): boolean {
  const stack: Set<string>[] = [];
  const tokens = /"(?:[^"\\]|\\.)*"|[{}[\]]/g;
  for (let m = tokens.exec(text); m; m = tokens.exec(text)) {
    const token = m[0];
    if (token === "{") stack.push(new Set());
    else if (token === "}") stack.pop();
    else if (token.startsWith('"')) {
      let next = tokens.lastIndex;
      while (text[next] === " " || text[next] === "\t" || text[next] === "\n" || text[next] === "\r") next++;
      const keys = stack[stack.length - 1];
      if (text[next] !== ":" || !keys) continue;
      const key = JSON.parse(token) as string;
      if (keys.has(key)) return true;
      keys.add(key);
    }
  }
  return false;
}

function parseArgs(argv: readonly string[]): { file: string; jwks: string } | { error: string } {
  let file: string | undefined;
  let jwks: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? ""; // i < argv.length
    if (arg === "--jwks") {
      jwks = argv[i + 1];
      i += 1;
    } else if (arg.startsWith("--jwks=")) {
      jwks = arg.slice("--jwks=".length);
    } else if (arg.startsWith("-")) {
      return { error: `unknown option ${arg}` };
    } else if (file === undefined) {
      file = arg;
    } else {
      return { error: `unexpected argument ${arg}` };
    }
  }
  if (!file) return { error: "missing the export file" };
  if (!jwks) return { error: "missing --jwks (the audit log's public keys)" };
  return { file, jwks };
}

async function loadJwks(source: string): Promise<unknown> {
  if (/^https?:\/\//i.test(source)) {
    const response = await fetch(source, { signal: AbortSignal.timeout(10_000), redirect: "error" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }
  return JSON.parse(await readFile(source, "utf8"));
}

function jwksToKeys(jwks: unknown): Map<string, KeyObject> {
  const list = (jwks as { keys?: unknown })?.keys;
  if (!Array.isArray(list)) throw new Error("not a JWK set (no `keys` array)");
  const keys = new Map<string, KeyObject>();
  for (const jwk of list as Record<string, unknown>[]) {
    // Only Ed25519 public keys can have signed audit records; anything else is ignored, not trusted.
    if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.kid !== "string" || typeof jwk.x !== "string")
      continue;
    if ("d" in jwk) throw new Error(`key ${jwk.kid} contains private material; refusing to use it`);
    keys.set(jwk.kid, createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" }));
  }
  if (keys.size === 0) throw new Error("no Ed25519 (OKP) keys with a kid");
  return keys;
}
