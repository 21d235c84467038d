// `gatehouse audit verify FILE --jwks FILE|URL`: checks an exported audit log (JSONL, one record per line)
// offline, with nothing but the public keys: seq continuity per org, prev_hash links, each record's hash and
// its Ed25519 signature. Exit 0 when every record verifies, 1 when one does not (the first is named),
// 2 on a usage error or an unreadable input.
//
// Records cut off the END of an export would leave a valid chain (every prefix of one is valid), so an export
// ends with the org's chain head signed by the audit key (`{"chain_head": …}`, the same as GET …/interactions/head):
// the records must reach exactly its seq and hash, and nothing may follow it.
import { createPublicKey, type KeyObject } from "node:crypto";
import { canonicalJson } from "../core/audit/canonical";
import { type ChainHead, chainHeadProblem } from "../core/audit/chain-head";
import { printable, printableJson } from "../core/audit/printable";
import { DEFAULT_MAX_STEP_BACK_MS, verifyRecords } from "../core/audit/verify";
import { LARGE_INPUT_BYTES, readInputFile, SMALL_INPUT_BYTES } from "./input-file";

export interface CliIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
}

const defaultIo: CliIo = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
};

const USAGE = "usage: gatehouse audit verify EXPORT.jsonl --jwks JWKS.json|https://…/jwks.json [--max-step-back-ms MS]";

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
    io.stderr(`cannot load JWKS from ${printable(parsed.jwks)}: ${printable((err as Error).message)}`);
    return 2;
  }

  let text: string;
  try {
    text = await readInputFile(parsed.file, LARGE_INPUT_BYTES);
  } catch (err) {
    io.stderr(`cannot read ${printable(parsed.file)}: ${printable((err as Error).message)}`);
    return 2;
  }

  const lines = text.split("\n");
  let unparsable: { line: number; message: string } | undefined;
  const heads: { line: number; head: unknown }[] = [];
  const lastOf = new Map<string, { seq: number; hash: string }>();
  const records = (function* () {
    for (const [index, line] of lines.entries()) {
      if (line.trim() === "") continue;
      const problem = lineProblem(line);
      if (problem) {
        unparsable = { line: index + 1, message: problem };
        return;
      }
      const value = JSON.parse(line) as unknown;
      if (isHeadLine(value)) {
        heads.push({ line: index + 1, head: value.chain_head });
        continue;
      }
      if (heads.length > 0) {
        unparsable = { line: index + 1, message: "is a record after the signed chain head (the head ends the export)" };
        return;
      }
      const r = value as { org_id?: unknown; seq?: unknown; hash?: unknown };
      if (typeof r.org_id === "string" && typeof r.seq === "number" && typeof r.hash === "string")
        lastOf.set(r.org_id, { seq: r.seq, hash: r.hash });
      yield value;
    }
  })();

  const result = verifyRecords(records, (kid) => keys.get(kid), { maxStepBackMs: parsed.maxStepBackMs });
  if (unparsable && result.valid) {
    // JSON.parse quotes the start of the line it refuses: escaped, so those bytes cannot repaint this line.
    io.stderr(
      `FAIL: line ${unparsable.line} ${printable(unparsable.message)}; ${result.records} record(s) before it verified`,
    );
    return 1;
  }
  if (!result.valid) {
    const where = [
      `seq ${result.first_invalid_seq ?? "?"}`,
      `interaction_id ${result.interaction_id ?? "?"}`,
      `org_id ${result.org_id ?? "?"}`,
    ].join(", ");
    // A tampered record's own ids are printed: escaped, so it cannot rewrite this line into an OK.
    io.stderr(`FAIL: record ${printable(where)}: ${printable(result.reason)}`);
    io.stderr(`${result.records} record(s) before it verified`);
    return 1;
  }
  const headResult = checkHeads(heads, lastOf, keys);
  if ("error" in headResult) {
    io.stderr(`FAIL: ${printable(headResult.error)}`);
    io.stderr(`${result.records} record(s) before it verified`);
    return 1;
  }
  const described = headResult.heads
    .map((h) => `${h.org_id} at seq ${h.seq} (signed ${h.signed_at} by ${h.kid})`)
    .join("; ");
  // Escaped as the FAIL lines are: an org id may hold a bidi or C1 control character that would repaint this line.
  io.stdout(
    `OK: ${result.records} record(s) in ${result.orgs} org chain(s) verified (hash chain, seq continuity, Ed25519 signatures; ${keys.size} key(s) in JWKS); signed chain head ${printable(described)}: nothing is missing at the end`,
  );
  return 0;
}

function isHeadLine(value: unknown): value is { chain_head: unknown } {
  return (
    value !== null &&
    typeof value === "object" &&
    !Array.isArray(value) &&
    Object.keys(value).length === 1 &&
    "chain_head" in value
  );
}

/**
 * Every org of the export has exactly one signed head, and its records end exactly at it: fewer records is a cut
 * at the tail, a different hash a replaced end.
 */
function checkHeads(
  heads: { line: number; head: unknown }[],
  lastOf: Map<string, { seq: number; hash: string }>,
  keys: Map<string, KeyObject>,
): { heads: ChainHead[] } | { error: string } {
  if (heads.length === 0)
    return {
      error:
        'the export does not end with a signed chain head ({"chain_head": …}): records cut off the end could not be noticed',
    };
  const byOrg = new Map<string, ChainHead>();
  for (const { line, head } of heads) {
    const problem = chainHeadProblem(head, (kid) => keys.get(kid));
    if (problem) return { error: `line ${line}: ${problem}` };
    const verified = head as ChainHead;
    if (byOrg.has(verified.org_id)) return { error: `line ${line}: a second chain head for org ${verified.org_id}` };
    byOrg.set(verified.org_id, verified);
  }
  for (const org of lastOf.keys())
    if (!byOrg.has(org)) return { error: `no signed chain head for org ${org}: its end cannot be checked` };
  for (const head of byOrg.values()) {
    const last = lastOf.get(head.org_id) ?? { seq: 0, hash: "" };
    if (last.seq < head.seq)
      return {
        error: `cut at the tail of org ${head.org_id}: the signed chain head is at seq ${head.seq} but the records end at seq ${last.seq} (${head.seq - last.seq} record(s) missing at the end)`,
      };
    if (last.seq > head.seq)
      return { error: `org ${head.org_id} has records after its signed chain head (seq ${head.seq})` };
    if (head.seq > 0 && last.hash !== head.hash)
      return {
        error: `org ${head.org_id}: the last record's hash is not the signed chain head's (the end was replaced)`,
      };
  }
  return { heads: [...byOrg.values()] };
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
  // As stored, or as `audit export` prints it: the same canonical line with its control, format and separator
  // characters escaped (nothing else may differ, so a record still has one spelling per form).
  if (canonical === line || printableJson(canonical) === line) return null;
  if (hasDuplicateKeys(line)) return "has duplicate keys in one object";
  return "is not canonical JSON (RFC 8785: sorted keys, no whitespace, shortest number form)";
}

/** Finds a key repeated in one object of a JSON text (the text is already known to parse). */
export function hasDuplicateKeys(text: string): boolean {
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

type VerifyArgs = { file: string; jwks: string; maxStepBackMs: number };

/** --max-step-back-ms: a whole number of ms, 0 up to a day (a larger one checks nothing a clock would explain). */
function stepBackOf(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,8}$/.test(value)) return undefined;
  const ms = Number(value);
  return ms <= 86_400_000 ? ms : undefined;
}

function parseArgs(argv: readonly string[]): VerifyArgs | { error: string } {
  let file: string | undefined;
  let jwks: string | undefined;
  let maxStepBackMs = DEFAULT_MAX_STEP_BACK_MS;
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] ?? ""; // i < argv.length
    if (arg === "--max-step-back-ms") {
      const ms = stepBackOf(argv[i + 1]);
      if (ms === undefined) return { error: "--max-step-back-ms takes a whole number of ms, 0 to 86400000" };
      maxStepBackMs = ms;
      i += 1;
    } else if (arg === "--jwks") {
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
  return { file, jwks, maxStepBackMs };
}

export async function loadJwks(source: string): Promise<unknown> {
  if (/^https?:\/\//i.test(source)) {
    const response = await fetch(source, { signal: AbortSignal.timeout(10_000), redirect: "error" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return response.json();
  }
  return JSON.parse(await readInputFile(source, SMALL_INPUT_BYTES));
}

export function jwksToKeys(jwks: unknown): Map<string, KeyObject> {
  const list = (jwks as { keys?: unknown })?.keys;
  if (!Array.isArray(list)) throw new Error("not a JWK set (no `keys` array)");
  const keys = new Map<string, KeyObject>();
  // A set that names its keys' purposes (Gatehouse's own JWKS) vouches for audit records with its `audit` keys only:
  // a token issuer's key signs what any holder of a token may have asked for, never the audit. A set naming none (an
  // older Gatehouse's, or one an auditor assembled) is taken whole.
  const named = list.some((jwk) => typeof (jwk as { purpose?: unknown })?.purpose === "string");
  for (const jwk of list as Record<string, unknown>[]) {
    if (named && jwk.purpose !== "audit") continue;
    // Only Ed25519 public keys can have signed audit records; anything else is ignored, not trusted.
    if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || typeof jwk.kid !== "string" || typeof jwk.x !== "string")
      continue;
    if ("d" in jwk) throw new Error(`key ${jwk.kid} contains private material; refusing to use it`);
    keys.set(jwk.kid, createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" }));
  }
  if (keys.size === 0) throw new Error("no Ed25519 (OKP) keys with a kid");
  return keys;
}
