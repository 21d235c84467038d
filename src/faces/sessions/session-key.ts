// Sessions are per user: the id an IDE puts in /ws/{session_id} is its own name for the session, and two users
// who both pick `my-session` (as the README's example does) have two sessions that never meet. Internally (the
// session registry, the Redis keys, the cluster's messages, the runtime link, approvals and audit records) a
// session is named by its key: the client's id, `~`, and a tag of its owner. `~` cannot occur in a client id
// ([A-Za-z0-9._:-]) and the tag is a fixed-length hash, so one key names exactly one (owner, id) pair whatever
// characters the owner's issuer, org or sub contain (a JSON array, hashed: no separator inside them can shift a
// boundary), and a key never collides with another in the `P:ws:session:` namespace.
import { createHash } from "node:crypto";
import type { SessionOwner } from "./owner";

const SEPARATOR = "~";
/** 128 bits of SHA-256: no two owners share a tag in practice. */
const TAG_HEX_CHARS = 32;

/** The owner's tag: the same principal (issuer, org, sub — absent = "", as `isOwner` compares) → the same tag. */
function ownerTag(owner: SessionOwner): string {
  const principal = JSON.stringify([owner.issuer ?? "", owner.orgId ?? "", owner.sub]);
  return createHash("sha256").update(principal).digest("hex").slice(0, TAG_HEX_CHARS);
}

/** The key of `owner`'s session that the IDE calls `clientId`. */
export function sessionKey(owner: SessionOwner, clientId: string): string {
  return `${clientId}${SEPARATOR}${ownerTag(owner)}`;
}

/** The id the IDE chose, as frames and the operator console show it (a key without a tag is returned as is). */
export function clientSessionId(key: string): string {
  const at = key.lastIndexOf(SEPARATOR);
  return at < 0 ? key : key.slice(0, at);
}
