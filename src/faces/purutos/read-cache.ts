// What a discovery rebuild learnt from each file it read, kept for the next rebuild.
//
// Discovery rebuilds in the background every GATEHOUSE_DISCOVERY_TTL_MS (10 s): it used to open, read and parse
// every README.md, .puruto-standard-version, SKILL.md and registry.json of the ecosystem each time, with nothing
// changed. Now each file is first *probed* — its real path (every symlink followed) and a stat of that real path,
// which opens nothing — and when the probe is the one seen when the file was last read, what was derived from that
// read (the description, the parsed front matter, the registry's entries) is reused. Anything else goes through
// readContained as before, so its rules (containment, O_NOFOLLOW, O_NONBLOCK for FIFOs, regular files only, size
// limits) judge every file whose probe differs: a file swapped for a symlink changes its real path, a FIFO or a
// directory its mode and inode, a rewrite its size, mtime or ctime.
//
// Racy writes: file timestamps tick coarsely (a jiffy on Linux, 2 s on FAT), so a same-size rewrite right after a
// read can leave the stat unchanged. As git does for its index, a result is kept only when the file's ctime (which
// no program can set back) is older than RACY_WINDOW_MS at probe time; a younger file is simply read again next time.
// The probe is taken BEFORE the read: a change during the read then shows as a different probe next time.
import { realpath, stat } from "node:fs/promises";
import { type ContainedReadRefusal, isInside, readContained } from "./containment";

export type ContainedRead = Awaited<ReturnType<typeof readContained>>;

/** Longer than the coarsest common timestamp tick (FAT: 2 s), shorter than the 10 s between rebuilds. */
export const RACY_WINDOW_MS = 5_000;

/** Refusals that follow from the probe itself; "unreadable" (EMFILE, EACCES, …) may be transient and is not kept. */
const SETTLED_REFUSALS: ReadonlySet<ContainedReadRefusal> = new Set(["absent", "outside", "not_a_file", "too_big"]);

interface Kept {
  probe: string;
  value: unknown;
}

export interface ReadCacheOptions {
  /** See RACY_WINDOW_MS (tests set 0 to check reuse without waiting). */
  racyWindowMs?: number | undefined;
}

export class ReadCache {
  readonly #racyWindowMs: number;
  /** Results used by the rebuild in progress. */
  #current = new Map<string, Kept>();
  /** Results of the previous rebuild: what this one may reuse. */
  #previous = new Map<string, Kept>();

  constructor(options: ReadCacheOptions = {}) {
    this.#racyWindowMs = options.racyWindowMs ?? RACY_WINDOW_MS;
  }

  /**
   * `derive(readContained(realRoot, file, limit))`, or the value derived at the last read when the file's probe is
   * unchanged. `kind` names the derivation (one file could be read two ways). `derive` must be pure, and its
   * value is shared between rebuilds: never change it.
   */
  async read<T>(
    kind: string,
    realRoot: string,
    file: string,
    limit: number,
    derive: (read: ContainedRead) => T,
  ): Promise<T> {
    const key = `${kind}\0${realRoot}\0${file}`;
    const probe = await probeFile(realRoot, file, this.#racyWindowMs);
    const kept = this.#current.get(key) ?? this.#previous.get(key);
    if (probe !== null && kept?.probe === probe) {
      this.#current.set(key, kept);
      return kept.value as T;
    }
    const read = await readContained(realRoot, file, limit);
    const value = derive(read);
    if (probe !== null && (read.ok || SETTLED_REFUSALS.has(read.reason))) this.#current.set(key, { probe, value });
    return value;
  }

  /** End of a rebuild: what it did not use (a removed puruto, skill or file) is forgotten. */
  sweep(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }
}

/** No cache: every call reads (readRepo and readRegistry outside discovery, e.g. in tests). */
export const NO_CACHE = {
  read: <T>(_kind: string, realRoot: string, file: string, limit: number, derive: (read: ContainedRead) => T) =>
    readContained(realRoot, file, limit).then((read): T => derive(read)),
} satisfies Pick<ReadCache, "read">;

export type FileReader = Pick<ReadCache, "read">;

/**
 * Where `file` really is and its inode's identity, size, mode, owner and times, as one string; null when it may
 * not be trusted to stand for the content (too recently changed, or the stat failed for another reason).
 */
async function probeFile(realRoot: string, file: string, racyWindowMs: number): Promise<string | null> {
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" ? "absent" : null;
  }
  if (!isInside(realRoot, real)) return `outside|${real}`;
  try {
    const s = await stat(real, { bigint: true });
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    if (nowNs - s.ctimeNs < BigInt(racyWindowMs) * 1_000_000n) return null;
    return [real, s.dev, s.ino, s.mode, s.uid, s.gid, s.size, s.mtimeNs, s.ctimeNs].join("|");
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT" ? "absent" : null;
  }
}
