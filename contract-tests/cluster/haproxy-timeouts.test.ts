// The cluster's load balancer (deploy/cluster/haproxy.cfg, what `make cluster` and the HAProxy tests run) must wait
// for a node longer than the longest request the API lets a client hold open: the approval long-poll's `wait`. With
// `timeout server` equal to the spec's maximum (60 s), a `?wait=60` long-poll through HAProxy was answered by
// HAProxy itself — 504 Gateway Timeout, an HTML page, not the pending approval nor problem+json.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");

/** HAProxy's `timeout <name>` of the defaults section, in seconds (units s, m, ms). */
function haproxyTimeoutSeconds(config: string, name: string): number {
  const match = new RegExp(`^\\s*timeout\\s+${name}\\s+(\\d+)(ms|s|m)?\\s*$`, "m").exec(config);
  if (!match) throw new Error(`no 'timeout ${name}' in the HAProxy configuration`);
  const value = Number(match[1]);
  return match[2] === "m" ? value * 60 : match[2] === "ms" ? value / 1000 : value;
}

/** The largest `wait` (seconds) any operation of the published OpenAPI accepts. */
function longestWaitSeconds(): number {
  const spec = JSON.parse(readFileSync(resolve(ROOT, "generated/openapi.json"), "utf8")) as {
    paths: Record<string, Record<string, { parameters?: { name?: string; schema?: { maximum?: number } }[] }>>;
  };
  const waits = Object.values(spec.paths)
    .flatMap((ops) => Object.values(ops))
    .flatMap((op) => op.parameters ?? [])
    .filter((p) => p.name === "wait")
    .map((p) => p.schema?.maximum ?? Number.POSITIVE_INFINITY);
  expect(waits.length).toBeGreaterThan(0);
  return Math.max(...waits);
}

describe("the cluster's HAProxy timeouts", () => {
  it("outwait the longest long-poll the API allows, with room for the node to answer it", () => {
    const config = readFileSync(resolve(ROOT, "deploy/cluster/haproxy.cfg"), "utf8");
    const longest = longestWaitSeconds();
    // A long-poll answers after `wait` seconds plus the node's own work (a read, the response): seconds of margin.
    expect(haproxyTimeoutSeconds(config, "server")).toBeGreaterThanOrEqual(longest + 10);
  });
});
