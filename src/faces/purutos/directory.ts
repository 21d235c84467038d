// Listing a directory discovery reads (an ecosystem root, a puruto's `.claude/skills`) with a hard bound.
//
// readdir built the whole listing at once, on every rebuild: 200,000 entries stalled the event loop 0.9 s (every
// request of the gateway waited) and took 76 MB, and the 1,000-skill limit only applied after that. The directory
// is now read as a stream (fs.opendir, a batch of entries per call) and reading stops after `limit` entries: what
// lies beyond is neither read nor kept, and the caller reports it. Which entries are the first is the file
// system's order (hash order on ext4, stable while the directory does not change), not the names' order.
import type { Dirent } from "node:fs";
import { opendir } from "node:fs/promises";

/** Entries examined per directory listed; an ecosystem of purutos on one machine is far smaller. */
export const MAX_DIRECTORY_ENTRIES = 10_000;

/** Entries fetched per call into the thread pool: few round trips, and a small batch on the event loop. */
const BATCH = 256;

export interface Listing {
  /** The entries examined that `keep` accepted, in the file system's order. */
  kept: Dirent[];
  /** True when the directory holds more than `limit` entries: those beyond were not examined. */
  cut: boolean;
}

/** At most `limit` entries of `dir`, examined one batch at a time. Throws as opendir does (ENOENT, EACCES…). */
export async function listDirectory(dir: string, limit: number, keep: (entry: Dirent) => boolean): Promise<Listing> {
  const handle = await opendir(dir, { bufferSize: BATCH });
  const kept: Dirent[] = [];
  let examined = 0;
  // Leaving the loop early (break, throw) closes the handle: the async iterator's return() does.
  for await (const entry of handle) {
    if (examined === limit) return { kept, cut: true };
    examined++;
    if (keep(entry)) kept.push(entry);
  }
  return { kept, cut: false };
}

/** The problem a cut listing reports (logged, and shown without its path by GET /health). */
export function cutProblem(dir: string, limit: number): string {
  return `${dir}: more than ${limit} entries, only the first ${limit} the file system listed were examined`;
}
