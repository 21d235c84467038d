// The signed chain head: "at `signed_at`, org X's chain ended at `seq` with `hash`", signed by the audit key.
//
// Every prefix of a valid hash chain is itself valid, so a verifier holding only records cannot tell that some
// were cut off the end. A head signed by the audit key closes that gap: an export ends with it, an evidence bundle
// carries one, and a verifier checks that the records it holds reach exactly that seq and hash.
//
// signature = Ed25519 (base64url) over the RFC 8785 canonical JSON of every field but `signature`. The `type`
// field keeps a head from ever being mistaken for a record (whose signed body has other fields) and vice versa.
import { type KeyObject, sign, verify } from "node:crypto";
import { canonicalJson } from "./canonical";
import type { PublicKeyLookup } from "./verify";

export const CHAIN_HEAD_TYPE = "gatehouse.audit.chain_head";

export interface ChainHead {
  type: typeof CHAIN_HEAD_TYPE;
  org_id: string;
  /** 0 for an empty chain. */
  seq: number;
  /** GENESIS_HASH for an empty chain. */
  hash: string;
  signed_at: string;
  kid: string;
  signature: string;
}

const HEAD_FIELDS = ["type", "org_id", "seq", "hash", "signed_at", "kid", "signature"] as const;

function signedBytes(head: Omit<ChainHead, "signature">): Buffer {
  const { type, org_id, seq, hash, signed_at, kid } = head;
  return Buffer.from(canonicalJson({ type, org_id, seq, hash, signed_at, kid }), "utf8");
}

export function signChainHead(
  head: { org_id: string; seq: number; hash: string; signed_at: string },
  key: { kid: string; privateKey: KeyObject },
): ChainHead {
  const unsigned = { type: CHAIN_HEAD_TYPE, ...head, kid: key.kid } as const;
  return { ...unsigned, signature: sign(null, signedBytes(unsigned), key.privateKey).toString("base64url") };
}

/** Why `candidate` is not a chain head signed by a known key, or null when it is one. Strict: no other field. */
export function chainHeadProblem(candidate: unknown, publicKeyFor: PublicKeyLookup): string | null {
  if (candidate === null || typeof candidate !== "object" || Array.isArray(candidate))
    return "chain head is not an object";
  const head = candidate as Record<string, unknown>;
  const unknownFields = Object.keys(head).filter((k) => !(HEAD_FIELDS as readonly string[]).includes(k));
  if (unknownFields.length) return `chain head has unexpected field(s): ${unknownFields.join(", ")}`;
  if (head.type !== CHAIN_HEAD_TYPE) return `chain head type is not ${CHAIN_HEAD_TYPE}`;
  for (const field of ["org_id", "hash", "signed_at", "kid", "signature"] as const)
    if (typeof head[field] !== "string") return `chain head field ${field} missing or not a string`;
  if (!Number.isSafeInteger(head.seq) || (head.seq as number) < 0) return "chain head seq is not an integer ≥ 0";
  const key = publicKeyFor(head.kid as string);
  if (!key) return `chain head is signed by an unknown key kid=${String(head.kid)}`;
  try {
    const ok = verify(
      null,
      signedBytes(head as unknown as ChainHead),
      key,
      Buffer.from(head.signature as string, "base64url"),
    );
    return ok ? null : `chain head signature does not verify with key kid=${String(head.kid)}`;
  } catch {
    return `chain head signature does not verify with key kid=${String(head.kid)}`;
  }
}
