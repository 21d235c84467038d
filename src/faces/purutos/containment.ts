// The one check on where a path really points: after resolving every symlink it must stay inside `root`.
// A `puruto-x -> /etc` symlink or a registry entry `"path": "/"` must not make Gatehouse read or run
// anything outside the ecosystem.
import { realpath } from "node:fs/promises";
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
