// CPU per policy decision (decide: param extraction, amounts, the checks) on a few params shapes, measured in-process
// with process.cpuUsage() on an in-memory store: a focused micro-benchmark of the pipeline, not a load test (the
// machine may be shared: the median and the minimum of the rounds are printed).
//   [BENCH_LINES=word,…] npx tsx bench/policy-decide.ts [iterations=2000] [rounds=7] [checkout …]
// With several checkouts (this one and a worktree of main), each is loaded as its own module graph in this one
// process and the rounds alternate between them (A, B, A, B …), so load on a shared machine hits both alike.
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const iterations = Number(process.argv[2] ?? 2000);
const rounds = Number(process.argv[3] ?? 7);
const checkouts = process.argv.slice(4).map((p) => resolve(p));
if (checkouts.length === 0) checkouts.push(resolve(import.meta.dirname, ".."));

// biome-ignore lint/suspicious/noExplicitAny: each checkout's modules, loaded by path.
const load = (root: string, path: string): Promise<any> => import(pathToFileURL(join(root, path)).href);

const eur = (value: string) => ({ currency_code: "EUR", value });
/** A PayPal v2 order of `units` purchase units of `lines` items each. */
const paypalOrder = (units: number, lines: number) => ({
  intent: "CAPTURE",
  purchase_units: Array.from({ length: units }, (_, u) => ({
    reference_id: `u${u}`,
    soft_descriptor: "ACME SHOP",
    amount: {
      ...eur(String(lines * 11)),
      breakdown: { item_total: eur(String(lines * 10)), tax_total: eur(String(lines)) },
    },
    items: Array.from({ length: lines }, (_, i) => ({
      name: `Item ${i}`,
      quantity: "1",
      unit_amount: eur("10.00"),
      tax: eur("1.00"),
    })),
  })),
});

const SHAPES: Record<string, Record<string, unknown>> = {
  "mail (to, subject, body)": { to: "c@example.com", subject: "Hi", body: "text" },
  "card payment (Stripe-like, merchant)": {
    amount: 4200,
    currency: "EUR",
    iban: "DE00",
    description: "Order 1234 for Evil Corp's rival",
    statement_descriptor: "ACME SHOP",
    merchant: { id: "acct_1", name: "Acme Shop", profile: { name: "Acme Shop GmbH", url: "https://acme.example" } },
    metadata: { order: "1234", channel: "web" },
  },
  "card payment (merchant name only)": {
    amount: 4200,
    currency: "EUR",
    iban: "DE00",
    description: "Order 1234 for Evil Corp's rival",
    merchant: { id: "acct_1", name: "Acme Shop", url: "https://acme.example" },
    metadata: { order: "1234", channel: "web" },
  },
  "PayPal order (1 unit, 3 items)": { iban: "DE00", ...paypalOrder(1, 3) },
  "PayPal order (20 units, 10 items each)": { iban: "DE00", ...paypalOrder(20, 10) },
};

async function linesOf(root: string): Promise<Record<string, () => Promise<unknown>>> {
  const { decide } = await load(root, "src/core/policy/pipeline.ts");
  const { extractActionFacts } = await load(root, "src/core/policy/extract.ts");
  const { engine, ORG, supportBot, emailRequest } = await load(root, "src/core/policy/test-fixtures.ts");
  const e = await engine();
  e.manifests.register(
    ORG,
    supportBot({
      capabilities: ["payment:wire"],
      constraints: {},
      policy: { amount_threshold: { amount: 1_000_000, currency: "EUR" }, counterparty_blocklist: ["Evil Corp"] },
      tools: { "payment:wire": { connector: { type: "noop" } } },
    }),
  );
  const lines: Record<string, () => Promise<unknown>> = {};
  for (const [name, params] of Object.entries(SHAPES)) {
    const request = { ...emailRequest(), action: { type: "payment", tool: "wire", params } };
    lines[name] = () => decide(ORG, request, e.deps, { now: e.now() });
  }
  // The params' reading alone, part of each decision above.
  for (const [name, params] of Object.entries(SHAPES))
    lines[`extraction only: ${name}`] = async () => extractActionFacts({ params });
  return lines;
}

const cpuMicros = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

const suites = await Promise.all(checkouts.map((root) => linesOf(root)));
const only = process.env.BENCH_LINES?.split(",");
for (const name of Object.keys(suites[0]!).filter((n) => !only || only.some((word) => n.includes(word)))) {
  const perCall = suites.map(() => [] as number[]);
  for (const lines of suites) for (let i = 0; i < Math.min(200, iterations); i++) await lines[name]!(); // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const [s, lines] of suites.entries()) {
      const call = lines[name]!;
      const start = cpuMicros();
      for (let i = 0; i < iterations; i++) await call();
      perCall[s]!.push((cpuMicros() - start) / iterations);
    }
  }
  const cells = perCall.map((values) => {
    values.sort((a, b) => a - b);
    const median = values[Math.floor(values.length / 2)]!;
    return `${median.toFixed(2).padStart(8)} (min ${values[0]!.toFixed(2).padStart(7)})`;
  });
  console.log(`${name.padEnd(56)} ${cells.join("  ")}`);
}
console.log(`µs CPU per decision, median (min) of ${rounds} rounds of ${iterations}; columns: ${checkouts.join("  ")}`);
