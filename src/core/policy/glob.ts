// Glob matching for allow/block lists and token recipient constraints: `*` matches any run of characters
// (including none), `?` one character; everything else is literal; case-insensitive (emails, domains).
const cache = new Map<string, RegExp>();

export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (!re) {
    const body = glob
      .split("")
      .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
      .join("");
    re = new RegExp(`^${body}$`, "is");
    cache.set(glob, re);
  }
  return re;
}

export function matchesAnyGlob(value: string, globs: readonly string[]): boolean {
  return globs.some((g) => globToRegExp(g.trim()).test(value.trim()));
}
