// Tool names MCP clients accept. The model APIs behind MCP clients refuse a tool whose name is longer than 64
// characters or holds anything but [A-Za-z0-9_-] (and the client then drops the whole server), while capabilities
// (`type:tool`), uapk ids and puruto folders may hold dots, colons, other characters and be up to 128 long. Each
// listed name is therefore the tool's own name with every other character made `_`; a name that is still too long,
// or that two tools (or a reserved name) would share, is cut and ends with `_` + 8 hex of the SHA-256 of the tool's
// full identity — the same input always gives the same names, and no two tools share one.
import { createHash } from "node:crypto";

export const MAX_TOOL_NAME_LENGTH = 64;
const HASH_LENGTH = 8;
const NOT_ALLOWED = /[^A-Za-z0-9_-]/g;

/** The name with every character MCP clients refuse made `_` (never empty). */
function sanitized(name: string): string {
  return name.replace(NOT_ALLOWED, "_") || "_";
}

function hashed(base: string, identity: string, attempt: number): string {
  const input = attempt === 0 ? identity : `${identity}\u0000${attempt}`;
  const suffix = createHash("sha256").update(input).digest("hex").slice(0, HASH_LENGTH);
  return `${base.slice(0, MAX_TOOL_NAME_LENGTH - HASH_LENGTH - 1)}_${suffix}`;
}

export interface NamedTool {
  /** The name as Gatehouse knows the tool, e.g. `crm.delete` (made valid here). */
  name: string;
  /** What tells this tool apart from every other one listed with it (hashed when the name must be shortened). */
  identity: string;
}

/**
 * Valid, unique MCP names for `tools`, in the same order: a tool keeps its sanitized name when it fits and no other
 * tool or `reserved` name sanitizes to it; the others get the hashed form.
 */
export function mcpToolNames(tools: readonly NamedTool[], reserved: ReadonlySet<string> = new Set()): string[] {
  const plain = tools.map((t) => sanitized(t.name));
  const sharing = new Map<string, number>();
  for (const name of plain) sharing.set(name, (sharing.get(name) ?? 0) + 1);
  const fits = (name: string) => name.length <= MAX_TOOL_NAME_LENGTH && sharing.get(name) === 1 && !reserved.has(name);
  const used = new Set(reserved);
  const chosen = plain.map((name) => (fits(name) ? name : undefined));
  for (const name of chosen) if (name) used.add(name);
  return plain.map((name, i) => {
    const kept = chosen[i];
    if (kept) return kept;
    // A hashed name that another one already took (a hash collision) takes the next attempt's hash.
    let attempt = 0;
    let candidate = hashed(name, tools[i]!.identity, attempt);
    while (used.has(candidate)) candidate = hashed(name, tools[i]!.identity, ++attempt);
    used.add(candidate);
    return candidate;
  });
}
