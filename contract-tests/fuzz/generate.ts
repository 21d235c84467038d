// Values generated from the JSON Schemas of generated/openapi.json, driven by a seeded PRNG so every run (and
// every failure) can be repeated from its seed. Mostly schema-valid values, sometimes hostile ones in their place
// (huge, deep, non-finite-looking, wrong type, unicode edge cases): the boundary must answer those with 4xx.

export type Schema = Record<string, unknown>;

/** mulberry32: small, fast, good enough to pick cases; the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Generator {
  constructor(
    private readonly rnd: () => number,
    private readonly components: Record<string, Schema>,
  ) {}

  chance(p: number): boolean {
    return this.rnd() < p;
  }

  int(min: number, max: number): number {
    return min + Math.floor(this.rnd() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.rnd() * items.length)] as T;
  }

  resolve(schema: Schema): Schema {
    let current = schema;
    for (let i = 0; i < 20 && typeof current.$ref === "string"; i++) {
      const name = current.$ref.split("/").pop() as string;
      current = this.components[name] ?? {};
    }
    return current;
  }

  /** A value for `schema`; with probability `hostility` at each node, a hostile value instead. */
  value(schema: Schema, hostility: number, depth = 0): unknown {
    if (hostility > 0 && this.chance(hostility)) return this.hostile(depth);
    const s = this.resolve(schema);
    const examples = s.examples as unknown[] | undefined;
    if (examples?.length && this.chance(0.3)) return structuredClone(this.pick(examples));
    if ("const" in s) return s.const;
    if (Array.isArray(s.enum)) return this.pick(s.enum);
    const union = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
    if (union?.length) return this.value(this.pick(union), hostility, depth);
    if (Array.isArray(s.allOf))
      return this.object(Object.assign({}, ...(s.allOf as Schema[]).map((x) => this.resolve(x))), hostility, depth);
    const type = Array.isArray(s.type) ? this.pick(s.type as string[]) : (s.type as string | undefined);
    switch (type) {
      case "string":
        return this.string(s);
      case "integer":
        return this.number(s, true);
      case "number":
        return this.number(s, false);
      case "boolean":
        return this.chance(0.5);
      case "null":
        return null;
      case "array":
        return this.array(s, hostility, depth);
      case "object":
        return this.object(s, hostility, depth);
      default:
        return s.properties ? this.object(s, hostility, depth) : this.any(depth);
    }
  }

  private string(s: Schema): string {
    const format = s.format as string | undefined;
    if (format === "date-time") return new Date(Date.UTC(2026, 0, 1) + this.int(-1e9, 1e9) * 1000).toISOString();
    if (format === "uuid") return "550e8400-e29b-41d4-a716-446655440000";
    if (format === "email") return this.pick(["a@example.com", "ops@acme.com", "x@y"]);
    if (format === "uri") return "https://example.com/x";
    const min = (s.minLength as number | undefined) ?? 0;
    const max = Math.min((s.maxLength as number | undefined) ?? 40, 200);
    const length = this.int(min, Math.max(min, max));
    const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_.@";
    let out = "";
    for (let i = 0; i < length; i++) out += alphabet[this.int(0, alphabet.length - 1)];
    return out;
  }

  private number(s: Schema, integer: boolean): number {
    const min = (s.minimum as number | undefined) ?? (integer ? -1000 : -1e6);
    const max = (s.maximum as number | undefined) ?? (integer ? 100_000 : 1e6);
    if (integer) return this.int(Math.max(min, -1e9), Math.min(max, 1e9));
    return Math.round((min + this.rnd() * (max - min)) * 100) / 100;
  }

  private array(s: Schema, hostility: number, depth: number): unknown[] {
    const min = (s.minItems as number | undefined) ?? 0;
    const max = Math.min((s.maxItems as number | undefined) ?? 4, 6);
    const items = (s.items as Schema | undefined) ?? {};
    return Array.from({ length: this.int(min, Math.max(min, max)) }, () => this.value(items, hostility, depth + 1));
  }

  private object(s: Schema, hostility: number, depth: number): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const required = new Set((s.required as string[] | undefined) ?? []);
    const properties = (s.properties as Record<string, Schema> | undefined) ?? {};
    for (const [name, property] of Object.entries(properties)) {
      if (required.has(name) || this.chance(0.5)) out[name] = this.value(property, hostility, depth + 1);
    }
    const extra = s.additionalProperties ?? s.unevaluatedProperties;
    if (extra && typeof extra === "object" && this.chance(0.5)) {
      for (let i = this.int(0, 3); i > 0; i--)
        out[this.string({ maxLength: 12 })] = this.value(extra as Schema, hostility, depth + 1);
    }
    return out;
  }

  private any(depth: number): unknown {
    return depth > 3 ? this.pick([1, "x", true, null]) : this.pick([1, -2.5, "text", true, null, [1, "a"], { k: "v" }]);
  }

  /** A value a hostile client might send in place of any field. */
  hostile(depth: number): unknown {
    const cases: (() => unknown)[] = [
      () => "x".repeat(this.int(1000, 200_000)),
      () => "\u0000\u202e\ud800 \uFEFF" + "é".repeat(this.int(1, 50)),
      () => this.pick([Number.MAX_SAFE_INTEGER + 2, -Number.MAX_VALUE, 1e308, 5e-324, -0, 2 ** 63]),
      () => nestedArray(this.int(20, 60)),
      () => Array.from({ length: this.int(100, 5000) }, (_, i) => i),
      () => Object.fromEntries(Array.from({ length: this.int(100, 3000) }, (_, i) => [`k${i}`, i])),
      () => this.pick([null, true, false, 0, "", [], {}]),
      () => ({ __proto__: { polluted: true }, constructor: { prototype: { x: 1 } } }),
      () => this.pick(["../../etc/passwd", "%2e%2e%2f", "<script>", "' OR 1=1 --", "${jndi:x}", "a,b;c\nd"]),
      () => (depth > 6 ? 1 : { nested: this.hostile(depth + 1) }),
    ];
    return this.pick(cases)();
  }
}

export function nestedArray(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}
