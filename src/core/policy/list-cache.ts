// What decisions derive from a manifest's lists (normalised patterns, sets of codes), derived once per list
// instead of on every decision. An entry is keyed by the list object itself, and only a frozen list is cached:
// both manifest stores hand out deep-frozen manifests, and a changed manifest (new body, new status) is read as a
// new object with new lists, so a cached entry always describes the list the decision is looking at. A list that
// is not frozen (a replay's candidate manifest, a token's claims, a manifest built in memory) may be changed in
// place between two decisions: its value is derived afresh every time. Lists of strings only: a frozen array of
// primitives cannot change at all.

/** `derive(list)`, computed once for a frozen list (see above). */
export function perList<V>(derive: (list: readonly string[]) => V): (list: readonly string[]) => V {
  const derived = new WeakMap<readonly string[], V>();
  return (list) => {
    if (!Object.isFrozen(list)) return derive(list);
    const cached = derived.get(list);
    if (cached !== undefined) return cached;
    const value = derive(list);
    derived.set(list, value);
    return value;
  };
}
