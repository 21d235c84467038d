// The capability token section of an evidence bundle, checked offline (./evidence-verify.ts). The decision's signed
// trace names the token's id; the token's claims, who issued it and its revocation are proven by the token's own
// signed `token_issued` / `token_revoked` records in `proof.token_records` (each signed by itself: they may precede
// the proof's chain segment by days). A token issued before those records were written has none: its claims are
// then the gateway's statement, and the verifier says so.
import { canonicalJson } from "./canonical";
import type { ChainHead } from "./chain-head";
import { shown } from "./printable";
import type { AuditRecord } from "./record";
import { type PublicKeyLookup, verifySegment } from "./verify";

type Json = Record<string, unknown>;

/** A token's signed records, as the builder puts them in the proof and the verifier reads them back. */
export interface TokenTrail {
  issued: AuditRecord | undefined;
  revoked: AuditRecord | undefined;
}

/** The token's records among `records` (its own interaction, named by its id): the first of each kind. */
export function tokenTrailOf(records: readonly AuditRecord[], tokenId: string): TokenTrail {
  const of = (kind: string) =>
    records.find((r) => r.kind === kind && r.interaction_id === tokenId && metaOf(r).token_id === tokenId);
  return { issued: of("token_issued"), revoked: of("token_revoked") };
}

const metaOf = (record: AuditRecord | undefined) => (record?.meta ?? {}) as Json;

/**
 * The section's fields the `token_issued` record states, each from that record (`agent_id` is the record's own
 * column, the rest its meta). The builder takes them from here, so the verifier compares the same things.
 */
export function issuedFields(issued: AuditRecord): Json {
  const meta = metaOf(issued);
  return {
    issuer_id: meta.issuer_id,
    issued_by: meta.issued_by,
    agent_id: issued.agent_id,
    manifest_id: meta.manifest_id,
    capabilities: meta.capabilities,
    max_actions: meta.max_actions,
    allowed_recipients_count: meta.allowed_recipients_count,
    issued_at: meta.issued_at,
    expires_at: meta.expires_at,
  };
}

/** The section's revocation fields the trail states: revoked with its `token_revoked` record, else not. */
export function revocationFields(revoked: AuditRecord | undefined): Json {
  if (!revoked) return { revoked: false, revoked_at: undefined, revoked_by: undefined };
  const meta = metaOf(revoked);
  return { revoked: true, revoked_at: meta.revoked_at, revoked_by: meta.revoked_by };
}

/**
 * The section against the signed records; the sentences it proves. Throws (the caller's `fail`) on the first thing
 * that does not hold.
 */
export function checkTokenSection(
  bundle: Json,
  opening: AuditRecord,
  head: ChainHead,
  publicKeyFor: PublicKeyLookup,
  fail: (reason: string) => never,
): string[] {
  const signedId = traceTokenId(opening);
  const token = bundle.capability_token;
  const records = tokenRecords(bundle, fail);
  if (token === undefined) {
    if (signedId !== undefined)
      fail(`capability_token: the decision used token ${String(signedId)}; its claims are missing`);
    if (records.length) fail("capability_token: proof.token_records given, but the bundle has no token section");
    return [];
  }
  // Without this, a token section added to a decision that used none matched its (absent) id and passed.
  if (signedId === undefined) fail("capability_token: the signed decision used no token");
  if (!isObject(token) || token.token_id !== signedId)
    fail("capability_token: not the token the signed decision recorded");
  const tokenId = signedId as string;
  for (const record of records) checkTokenRecord(record, tokenId, bundle.org_id, head, publicKeyFor, fail);
  const trail = tokenTrailOf(records, tokenId);
  if (records.length !== [trail.issued, trail.revoked].filter(Boolean).length)
    fail("proof: token_records holds a record twice, or one that is not this token's issue or revocation");
  noneLeftOut(trail, tokenTrailOf(chainOf(bundle), tokenId), fail);
  return [`capability_token: the decision used token ${shown(tokenId)}`, ...provenClaims(token as Json, trail, fail)];
}

function provenClaims(token: Json, trail: TokenTrail, fail: (reason: string) => never): string[] {
  const { issued, revoked } = trail;
  if (!issued && !revoked)
    return [
      "capability_token: its other claims, issued_by and revocation are the gateway's statement (no signed token record)",
    ];
  const proves: string[] = [];
  if (issued) {
    differing(token, issuedFields(issued), `the signed token_issued record (seq ${issued.seq})`, fail);
    proves.push(
      `capability_token: issued by ${shown(metaOf(issued).issued_by)} at ${shown(issued.timestamp)} with the claims shown (signed token_issued record, seq ${issued.seq})`,
    );
  } else proves.push("capability_token: its claims and issued_by are the gateway's statement (no signed issue record)");
  // The revocation of a token whose issue was signed is signed too: one without its record is not in this proof.
  const where = revoked
    ? `the signed token_revoked record (seq ${revoked.seq})`
    : "the proof, which holds no signed token_revoked record";
  differing(token, revocationFields(revoked), where, fail);
  proves.push(
    revoked
      ? `capability_token: revoked by ${shown(metaOf(revoked).revoked_by)} at ${shown(metaOf(revoked).revoked_at)} (signed token_revoked record, seq ${revoked.seq})`
      : // A record left out of the bundle cannot be seen here: "not revoked" is what the builder says.
        "capability_token: not revoked as of the chain head (the gateway's statement: no signed revocation given)",
  );
  return proves;
}

/**
 * A token record the proof's chain holds (a revocation after the decision is in it) must be the one token_records
 * gives: else a bundle could leave the signed revocation out and present the token as never revoked.
 */
function noneLeftOut(given: TokenTrail, inChain: TokenTrail, fail: (reason: string) => never): void {
  for (const kind of ["issued", "revoked"] as const) {
    const chained = inChain[kind];
    if (chained && given[kind]?.hash !== chained.hash)
      fail(
        `proof: the chain holds the token's token_${kind} record (seq ${chained.seq}), which token_records leaves out`,
      );
  }
}

function chainOf(bundle: Json): AuditRecord[] {
  const chain = (bundle.proof as Json).chain;
  return Array.isArray(chain) ? (chain as AuditRecord[]) : [];
}

/** Fails naming the first field of `expected` the section states otherwise. */
function differing(token: Json, expected: Json, where: string, fail: (reason: string) => never): void {
  for (const [field, value] of Object.entries(expected)) {
    if (canonicalJson(token[field] ?? null) !== canonicalJson(value ?? null))
      fail(`capability_token: ${field} differs from ${where}`);
  }
}

function tokenRecords(bundle: Json, fail: (reason: string) => never): AuditRecord[] {
  const proof = bundle.proof as Json;
  const records = proof.token_records;
  if (records === undefined) return [];
  if (!Array.isArray(records) || records.length > 2) return fail("proof: token_records is not a list of two at most");
  return records as AuditRecord[];
}

/** One token record: intact and signed by itself, this org's, this token's, and in the chain the head closes. */
function checkTokenRecord(
  record: unknown,
  tokenId: string,
  orgId: unknown,
  head: ChainHead,
  publicKeyFor: PublicKeyLookup,
  fail: (reason: string) => never,
): void {
  const checked = verifySegment([record], publicKeyFor);
  const r = record as AuditRecord;
  if (!checked.valid) fail(`proof: token record seq ${checked.seq ?? "?"}: ${checked.reason}`);
  if (r.org_id !== orgId) fail(`proof: token record seq ${r.seq} is another org's`);
  if ((r.kind !== "token_issued" && r.kind !== "token_revoked") || r.interaction_id !== tokenId)
    fail(`proof: token record seq ${r.seq} is not a record of token ${shown(tokenId)}`);
  if (r.seq > head.seq) fail(`proof: token record seq ${r.seq} is after the chain head (seq ${head.seq})`);
}

function traceTokenId(record: AuditRecord): unknown {
  const checks = (record.policy_trace as { checks?: { check: string; details?: Json }[] } | null)?.checks ?? [];
  return checks.find((c) => c.check === "capability_token")?.details?.token_id;
}

function isObject(value: unknown): value is Json {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
