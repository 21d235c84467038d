// Counterparties a manifest has already dealt with, for NEW_COUNTERPARTY. A counterparty becomes known
// when an action with it is executed successfully (possibly after a human approved it), never on evaluate.
// Stored and looked up in the policy's one normal form (./normalize.ts), as the counterparty check compares.
import { normalizeValue } from "./normalize";
import type { Db } from "../store/sqlite";

export class KnownCounterparties {
  // Prepared once: both run on the action hot path.
  private readonly knownStmt;
  private readonly rememberStmt;
  /**
   * Pairs known to be stored. A known counterparty stays known (nothing deletes these rows), so a hit is exact, and
   * remembering one again writes nothing — that write was a commit of its own on every execute. Misses are not
   * kept (a new counterparty must be read again). Bounded: emptied when it outgrows MAX_KNOWN.
   */
  private readonly known = new Set<string>();

  constructor(private readonly db: Db) {
    this.knownStmt = db.prepare(
      `SELECT 1 FROM known_counterparties WHERE org_id = ? AND uapk_id = ? AND counterparty = ?`,
    );
    this.rememberStmt = db.prepare(`INSERT INTO known_counterparties VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`);
  }

  isKnown(orgId: string, uapkId: string, counterparty: string): boolean {
    const value = normalize(counterparty);
    const key = keyOf(orgId, uapkId, value);
    if (this.known.has(key)) return true;
    const found = this.knownStmt.get(orgId, uapkId, value) !== undefined;
    // Inside an open transaction the row may yet be rolled back: not kept.
    if (found && !this.db.inTransaction) this.keep(key);
    return found;
  }

  remember(orgId: string, uapkId: string, counterparty: string, at: Date): void {
    const value = normalize(counterparty);
    const key = keyOf(orgId, uapkId, value);
    if (this.known.has(key)) return;
    this.rememberStmt.run(orgId, uapkId, value, at.toISOString());
    if (!this.db.inTransaction) this.keep(key);
  }

  private keep(key: string): void {
    if (this.known.size >= MAX_KNOWN) this.known.clear();
    this.known.add(key);
  }
}

// A key holds a recipient an agent chose (up to ~1 KB): 10,000 keep the memory an agent can fill to ~10 MB.
const MAX_KNOWN = 10_000;
const keyOf = (orgId: string, uapkId: string, counterparty: string) => `${orgId}\u0000${uapkId}\u0000${counterparty}`;

/** A single recipient's normal form; a value that is refused or hides several is kept whole (never matches one). */
function normalize(counterparty: string): string {
  const { whole, parts } = normalizeValue(counterparty);
  const [only] = parts;
  return parts.length === 1 && only?.ok ? only.value : whole;
}
