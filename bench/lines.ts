// The Gatehouse lines of `make bench`. Each face adds its own.
import type autocannon from "autocannon";

export interface BenchLine {
  name: string;
  path: string;
  /** Environment for the Gatehouse process of this line (e.g. a generated ecosystem). */
  prepare?: () => Promise<Record<string, string>>;
  /** State to create through the API before the load. */
  setup?: (baseUrl: string, apiKey: string) => Promise<void>;
  request?: (apiKey: string) => Partial<autocannon.Options>;
}

export const benchLines: BenchLine[] = [{ name: "gatehouse GET /health", path: "/health" }];
