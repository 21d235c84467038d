// Counterparties a manifest has already dealt with, for NEW_COUNTERPARTY. A counterparty becomes known
// when an action with it is executed successfully (possibly after a human approved it), never on evaluate.
// Stored and looked up in the policy's one normal form (./normalize.ts), as the counterparty check compares.
import { sqliteQuery } from "../store/sqlite-query";
import type { Db } from "../store/sqlite";
import { normalizeValue } from "./normalize";

type Pair = { org_id: string; uapk_id: string; counterparty: string };

export class KnownCounterparties {
  // Prepared once: both run on the action hot path.
  private readonly knownStmt;
  private readonly rememberStmt;
  /**
   * Pairs known to be stored. A known counterparty stays known (nothing deletes these rows), so a hit is exact, and
   * remembering one again writes nothing — that write was a commit of its own on every execute. Misses are not
   * kept (a new counterparty must be read again). Bounded: emptied when it outgrows MAX_KNOWN_COUNTERPARTIES.
   */
  private readonly known = new Set<string>();

  constructor(private readonly db: Db) {
    this.knownStmt = sqliteQuery(db, (b, $: Pair) =>
      b
        .selectFrom("known_counterparties")
        .select("org_id")
        .where("org_id", "=", $.org_id)
        .where("uapk_id", "=", $.uapk_id)
        .where("counterparty", "=", $.counterparty),
    );
    this.rememberStmt = sqliteQuery(db, (b, $: Pair & { first_seen: string }) =>
      b
        .insertInto("known_counterparties")
        .values({ org_id: $.org_id, uapk_id: $.uapk_id, counterparty: $.counterparty, first_seen: $.first_seen })
        .onConflict((oc) => oc.doNothing()),
    );
  }

  isKnown(orgId: string, uapkId: string, counterparty: string): boolean {
    const value = normalizeCounterparty(counterparty);
    const key = counterpartyKey(orgId, uapkId, value);
    if (this.known.has(key)) return true;
    const found = this.knownStmt.get({ org_id: orgId, uapk_id: uapkId, counterparty: value }) !== undefined;
    // Inside an open transaction the row may yet be rolled back: not kept.
    if (found && !this.db.inTransaction) this.keep(key);
    return found;
  }

  remember(orgId: string, uapkId: string, counterparty: string, at: Date): void {
    const value = normalizeCounterparty(counterparty);
    const key = counterpartyKey(orgId, uapkId, value);
    if (this.known.has(key)) return;
    this.rememberStmt.run({ org_id: orgId, uapk_id: uapkId, counterparty: value, first_seen: at.toISOString() });
    if (!this.db.inTransaction) this.keep(key);
  }

  private keep(key: string): void {
    if (this.known.size >= MAX_KNOWN_COUNTERPARTIES) this.known.clear();
    this.known.add(key);
  }
}

// A key holds a recipient an agent chose (up to ~1 KB): 10,000 keep the memory an agent can fill to ~10 MB.
// (The shared store's node-local set, src/core/store/shared/counterparties.ts, has the same bound and keys.)
export const MAX_KNOWN_COUNTERPARTIES = 10_000;

/** The key of a (normalised) counterparty in the known sets. */
export const counterpartyKey = (orgId: string, uapkId: string, counterparty: string) =>
  `${orgId}\u0000${uapkId}\u0000${counterparty}`;

/**
 * A single recipient's normal form, as stored and looked up on both backends; a value that is refused or hides
 * several is kept whole (never matches one).
 */
export function normalizeCounterparty(counterparty: string): string {
  const { whole, parts } = normalizeValue(counterparty);
  const [only] = parts;
  return parts.length === 1 && only?.ok ? only.value : whole;
}
