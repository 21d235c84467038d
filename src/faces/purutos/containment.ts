// The one check on where a path really points: after resolving every symlink it must stay inside `root`.
// A `puruto-x -> /etc` symlink or a registry entry `"path": "/"` must not make Gatehouse read or run
// anything outside the ecosystem.
import { constants } from "node:fs";
import { type FileHandle, open, realpath } from "node:fs/promises";
import path from "node:path";

/** Real path of `candidate` if it exists and lies inside (or is) `realRoot`; otherwise null. */
export async function realPathInside(realRoot: string, candidate: string): Promise<string | null> {
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    return null;
  }
  return isInside(realRoot, real) ? real : null;
}

export function isInside(realRoot: string, realChild: string): boolean {
  const relative = path.relative(realRoot, realChild);
  if (relative === "") return true;
  const escapes = relative === ".." || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative);
  return !escapes;
}

/**
 * THE way Gatehouse reads a file of a puruto (README, version file, SKILL.md, .env.example, .env) or of the
 * data folder (registry.json): the path is resolved (every symlink followed), must still lie inside
 * `realRoot`, and the real path is opened with O_NOFOLLOW so a symlink swapped in after the check is refused
 * too. Only regular files up to `limit` bytes are read. Anything else — absent, a directory, too big, or
 * pointing outside (e.g. at the data folder and its secret) — is null, with the reason for a log line.
 */
export async function readContained(
  realRoot: string,
  file: string,
  limit: number,
): Promise<{ ok: true; text: string; realPath: string } | { ok: false; reason: ContainedReadRefusal }> {
  let real: string;
  try {
    real = await realpath(file);
  } catch (err) {
    return { ok: false, reason: (err as NodeJS.ErrnoException).code === "ENOENT" ? "absent" : "unreadable" };
  }
  if (!isInside(realRoot, real)) return { ok: false, reason: "outside" };
  let handle: FileHandle | undefined;
  try {
    // O_NONBLOCK: a FIFO named README.md (or registry.json) would block open() until a writer came — forever —
    // holding a libuv thread and the discovery build, so every /purutos request and GET /health hung. Opened
    // without blocking, it is refused below as not a regular file; regular files read the same.
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const info = await handle.stat();
    if (!info.isFile()) return { ok: false, reason: "not_a_file" };
    if (info.size > limit) return { ok: false, reason: "too_big" };
    const buffer = Buffer.alloc(info.size);
    const { bytesRead } = await handle.read(buffer, 0, info.size, 0);
    return { ok: true, text: buffer.subarray(0, bytesRead).toString("utf8"), realPath: real };
  } catch {
    return { ok: false, reason: "unreadable" };
  } finally {
    await handle?.close();
  }
}

export type ContainedReadRefusal = "absent" | "unreadable" | "outside" | "not_a_file" | "too_big";
