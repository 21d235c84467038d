// Read coalescing for the hot reads of the shared store (the manifest of a call, a budget counter): the reads
// asked for during one turn of this node's event loop become ONE query, issued after that turn (setImmediate),
// so 64 concurrent requests cost one round trip and one pooled connection instead of 64.
//
// No staleness: the query is sent after every read it answers was asked for, so each caller sees the database
// as it was after its own request arrived — exactly what a query of its own would have seen, or newer. Nothing
// is kept once the query has answered (this is not a cache).

/** Keys of one turn, loaded together; `load` answers a map from key to value (absent: undefined). */
export function coalescedReads<K, V>(
  keyOf: (key: K) => string,
  load: (keys: K[]) => Promise<Map<string, V>>,
  options: { maxKeys?: number } = {},
): (key: K) => Promise<V | undefined> {
  const maxKeys = options.maxKeys ?? 200;
  type Waiter = { resolve: (value: V | undefined) => void; reject: (err: unknown) => void };
  let pending = new Map<string, { key: K; waiters: Waiter[] }>();

  function flush(): void {
    const batch = [...pending.values()];
    pending = new Map();
    for (let i = 0; i < batch.length; i += maxKeys) {
      const chunk = batch.slice(i, i + maxKeys);
      load(chunk.map((entry) => entry.key)).then(
        (values) => {
          for (const entry of chunk) {
            const value = values.get(keyOf(entry.key));
            for (const waiter of entry.waiters) waiter.resolve(value);
          }
        },
        (err) => {
          for (const entry of chunk) for (const waiter of entry.waiters) waiter.reject(err);
        },
      );
    }
  }

  return (key) =>
    new Promise<V | undefined>((resolve, reject) => {
      if (pending.size === 0) setImmediate(flush);
      const id = keyOf(key);
      let entry = pending.get(id);
      if (!entry) {
        entry = { key, waiters: [] };
        pending.set(id, entry);
      }
      entry.waiters.push({ resolve, reject });
    });
}
