// Chain verification shared by `verifyChain` (online, keys from SQLite) and `gatehouse audit verify`
// (offline, keys from a JWKS). Records must come in chain order; several orgs' chains may be interleaved.
import type { KeyObject } from "node:crypto";
import { type AuditRecord, GENESIS_HASH, HASHED_FIELDS, recordHash, signatureValid } from "./record";

export type ChainVerification =
  | { valid: true; records: number; orgs: number }
  | {
      valid: false;
      /** Records checked and found valid before the failure. */
      records: number;
      first_invalid_seq: number | null;
      org_id: string | null;
      interaction_id: string | null;
      reason: string;
    };

export type PublicKeyLookup = (kid: string) => KeyObject | undefined;

/**
 * How far a record's timestamp may be before its predecessor's in one chain, by default. Nodes sharing a chain stamp
 * records on their own clocks, each allowed GATEHOUSE_MAX_CLOCK_SKEW_MS (default 5000) off the database's, so two of
 * them opposite ways differ by up to twice that; 5 s more for a clock stepped between two measures and the commit
 * order. A chain whose time steps back further was reordered, backdated or written by a clock nobody checked.
 */
export const DEFAULT_MAX_STEP_BACK_MS = stepBackToleranceFor(5_000);

/** The step back a chain may show when each node may be `maxClockSkewMs` off the database's clock. */
export function stepBackToleranceFor(maxClockSkewMs: number): number {
  return 2 * maxClockSkewMs + 5_000;
}

export interface VerifyOptions {
  /** The largest step back in time between consecutive records of a chain (default DEFAULT_MAX_STEP_BACK_MS). */
  maxStepBackMs?: number;
}

type Head = { seq: number; hash: string; ms?: number };

/**
 * A record with a null signature is proven by the next signed record of its chain (its hash covers prev_hash): the
 * unsigned records since a chain's last signature wait for one, and a chain that ends while some still wait is
 * invalid (anyone could have appended them).
 */
type Waiting = Map<string, { seq: number; interaction_id: string }>;

function failure(candidate: unknown, checked: number, reason: string): ChainVerification {
  const r = (candidate ?? {}) as Partial<AuditRecord>;
  return {
    valid: false,
    records: checked,
    first_invalid_seq: typeof r.seq === "number" ? r.seq : null,
    org_id: typeof r.org_id === "string" ? r.org_id : null,
    interaction_id: typeof r.interaction_id === "string" ? r.interaction_id : null,
    reason,
  };
}

export function verifyRecords(
  records: Iterable<unknown>,
  publicKeyFor: PublicKeyLookup,
  options: VerifyOptions = {},
): ChainVerification {
  const verifier = new ChainVerifier(publicKeyFor, options);
  for (const candidate of records) if (!verifier.add(candidate)) break;
  return verifier.result();
}

/**
 * The same verification over a chain read a page at a time (online, `…/interactions/verify`): one page of memory,
 * and a turn of the event loop between pages (./export-pages.ts chainPages), however long the chain. Keys are looked
 * up once per kid, as each first appears.
 */
export async function verifyChainPages(
  pages: AsyncIterable<AuditRecord[]>,
  keyFor: (kid: string) => KeyObject | undefined | Promise<KeyObject | undefined>,
  options: VerifyOptions = {},
): Promise<ChainVerification> {
  const keys = new Map<string, KeyObject | undefined>();
  const verifier = new ChainVerifier((kid) => keys.get(kid), options);
  for await (const page of pages) {
    for (const record of page)
      if (typeof record.kid === "string" && !keys.has(record.kid)) keys.set(record.kid, await keyFor(record.kid));
    for (const record of page) if (!verifier.add(record)) return verifier.result();
  }
  return verifier.result();
}

/** Verification fed one record at a time, in chain order; `result()` once the records are read or one failed. */
export class ChainVerifier {
  private readonly heads = new Map<string, Head>();
  private readonly waiting: Waiting = new Map();
  private checked = 0;
  private failed: ChainVerification | undefined;

  constructor(
    private readonly publicKeyFor: PublicKeyLookup,
    private readonly options: VerifyOptions = {},
  ) {}

  /** A segment's start: the org's chain is taken to end at `head` before the first record given. */
  startAfter(orgId: string, head: { seq: number; hash: string }): void {
    this.heads.set(orgId, head);
  }

  /** How many orgs' chains the records so far belong to. */
  get orgs(): number {
    return this.heads.size;
  }

  /** Checks the next record; false once one failed (the rest need not be read). */
  add(candidate: unknown): boolean {
    if (this.failed) return false;
    const problem =
      recordProblem(candidate, this.heads, this.publicKeyFor) ??
      stepBackProblem(candidate as AuditRecord, this.heads, this.options.maxStepBackMs ?? DEFAULT_MAX_STEP_BACK_MS);
    if (problem) {
      this.failed = failure(candidate, this.checked, problem);
      return false;
    }
    const record = candidate as AuditRecord;
    this.heads.set(record.org_id, { seq: record.seq, hash: record.hash, ms: Date.parse(record.timestamp) });
    noteSignature(record, this.waiting);
    this.checked += 1;
    return true;
  }

  result(): ChainVerification {
    if (this.failed) return this.failed;
    for (const [org_id, first] of this.waiting) {
      // The records before the first unproven one are proven; it and those after it are not.
      const proven = this.checked - ((this.heads.get(org_id)?.seq ?? first.seq) - first.seq + 1);
      return failure({ org_id, ...first }, proven, UNSIGNED_END);
    }
    return { valid: true, records: this.checked, orgs: this.orgs };
  }
}

const UNSIGNED_END = "unsigned record(s) at the end of the chain: no later signed record proves them";

/** Records which unsigned records of the record's chain still wait for a signed one. */
function noteSignature(record: AuditRecord, waiting: Waiting): void {
  if (record.signature !== null) waiting.delete(record.org_id);
  else if (!waiting.has(record.org_id))
    waiting.set(record.org_id, { seq: record.seq, interaction_id: record.interaction_id });
}

/** An ISO 8601 instant as the log writes it (toISOString: ±YYYYYY beyond year 9999), or with an offset. */
const ISO_INSTANT = /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

/** A record (intact: recordProblem found none) stamped more than `maxMs` before its predecessor in its chain. */
function stepBackProblem(record: AuditRecord, heads: Map<string, Head>, maxMs: number): string | null {
  const ms = Date.parse(record.timestamp);
  if (typeof record.timestamp !== "string" || !ISO_INSTANT.test(record.timestamp) || Number.isNaN(ms))
    return "field timestamp missing or not an ISO 8601 instant";
  const previous = heads.get(record.org_id);
  if (previous?.ms === undefined || previous.ms - ms <= maxMs) return null;
  return (
    `timestamp of seq ${record.seq} (${record.timestamp}) is ${previous.ms - ms} ms before that of seq ` +
    `${previous.seq}: more than the ${maxMs} ms the nodes' clocks may differ by (reordered or backdated records, ` +
    "or a clock far off)"
  );
}

function recordProblem(candidate: unknown, heads: Map<string, Head>, publicKeyFor: PublicKeyLookup): string | null {
  if (candidate === null || typeof candidate !== "object" || Array.isArray(candidate)) return "not a record object";
  const record = candidate as AuditRecord;
  for (const field of ["org_id", "interaction_id", "prev_hash", "kid", "hash"] as const) {
    if (typeof record[field] !== "string") return `field ${field} missing or not a string`;
  }
  if (record.signature !== null && typeof record.signature !== "string")
    return "field signature missing or neither a string nor null";
  if (!Number.isSafeInteger(record.seq) || record.seq < 1) return "seq missing or not a positive integer";
  const unknownFields = Object.keys(record).filter(
    (k) => k !== "hash" && k !== "signature" && !(HASHED_FIELDS as readonly string[]).includes(k),
  );
  if (unknownFields.length) return `unexpected field(s) not covered by the hash: ${unknownFields.join(", ")}`;

  const head = heads.get(record.org_id);
  const expectedSeq = (head?.seq ?? 0) + 1;
  if (record.seq !== expectedSeq) {
    return record.seq < expectedSeq
      ? `seq ${record.seq} repeats or goes backwards (expected ${expectedSeq})`
      : `seq gap: expected ${expectedSeq}, found ${record.seq} (records missing)`;
  }
  const expectedPrev = head?.hash ?? GENESIS_HASH;
  if (record.prev_hash !== expectedPrev) {
    return `prev_hash does not match the hash of record ${expectedSeq - 1} (chain broken or forked)`;
  }
  if (recordHash(record) !== record.hash) return "hash mismatch: the record's content was changed after it was written";
  if (record.signature === null) return null; // proven by the next signed record (see Waiting)
  const key = publicKeyFor(record.kid);
  if (!key) return `unknown signing key kid=${record.kid}`;
  if (!signatureValid(record, key)) return `signature does not verify with key kid=${record.kid}`;
  return null;
}

/**
 * A contiguous piece of one org's chain (not necessarily from seq 1): each record intact and signed, each linked to
 * the one before it. What an evidence bundle carries from its first record to the chain head.
 */
export function verifySegment(
  records: readonly unknown[],
  publicKeyFor: PublicKeyLookup,
): { valid: true } | { valid: false; seq: number | null; reason: string } {
  const verifier = new ChainVerifier(publicKeyFor);
  // The first record is taken as the start: its predecessor is whatever its prev_hash says.
  const first = (records[0] ?? {}) as Partial<AuditRecord>;
  if (typeof first.org_id === "string" && typeof first.seq === "number" && typeof first.prev_hash === "string")
    verifier.startAfter(first.org_id, { seq: first.seq - 1, hash: first.prev_hash });
  for (const candidate of records) {
    if (!verifier.add(candidate)) break;
    if (verifier.orgs > 1) {
      const seq = (candidate as AuditRecord).seq;
      return { valid: false, seq, reason: "records of another org in the segment" };
    }
  }
  const result = verifier.result();
  return result.valid ? { valid: true } : { valid: false, seq: result.first_invalid_seq, reason: result.reason };
}
