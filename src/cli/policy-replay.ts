// `gatehouse policy replay MANIFEST_FILE --agent UAPK_ID --since ISO`: asks a running Gatehouse to replay the
// agent's recorded actions with the manifest file as candidate (POST …/manifests/{id}/replay, no side effect),
// prints the decision matrix, and fails (exit 1) when any recorded DENY or ESCALATE would become ALLOW — unless
// `--allow-loosening`. Meant as a CI step of a GitOps repository of manifests, so it also fails when the limit cut
// the replay short (more actions matched than it replayed): what it did not replay it cannot vouch for.
import { printable } from "../core/audit/printable";
import { readInputFileSync, SMALL_INPUT_BYTES } from "./input-file";
import { extname } from "node:path";
import { parse as parseYaml } from "yaml";
import type { components } from "../../generated/api-types";
import type { CliIo } from "./audit-verify";
import { CliError } from "./local";
import { type ApiOptions, callApi, registeredManifests } from "./remote";

type ReplayReport = components["schemas"]["ReplayReport"];

/** The server's default `limit` (spec/orgs.tsp, ReplayRequest), named when the CLI sent none. */
const DEFAULT_LIMIT = 10_000;

export interface ReplayOptions {
  agent?: string;
  since?: string;
  until?: string;
  limit?: string;
  allowLoosening?: boolean;
}

function readCandidate(file: string): Record<string, unknown> {
  try {
    const text = readInputFileSync(file, SMALL_INPUT_BYTES);
    return (extname(file).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text)) as Record<string, unknown>;
  } catch (err) {
    throw new CliError(`cannot read manifest ${file}: ${printable((err as Error).message)}`, 2);
  }
}

/**
 * Exit codes a CI gate can tell apart: 1 is the verdict (a loosening, or a replay cut at its limit), 2 is a replay
 * that could not run (a bad file or option, no such agent, the API refused or was not reached): a typo in `--since`
 * must not read as "this manifest loosens the policy".
 */
export async function policyReplay(api: ApiOptions, file: string, opts: ReplayOptions, io: CliIo): Promise<void> {
  const report = await replayReport(api, file, opts).catch((err: unknown) => {
    throw err instanceof CliError && err.exitCode === 1 ? new CliError(err.message, 2) : err;
  });
  printReport(report, io);
  gate(report, opts);
}

async function replayReport(api: ApiOptions, file: string, opts: ReplayOptions): Promise<ReplayReport> {
  const candidate = readCandidate(file);
  const uapkId = opts.agent ?? (candidate.uapk_id as string | undefined);
  if (!uapkId) throw new CliError("--agent (the manifest's uapk_id) is needed: the file names none", 2);
  const registered = await registeredManifest(api, uapkId);
  if (!registered) throw new CliError(`no manifest '${uapkId}' is registered in org ${api.org}`);
  const body = {
    candidate: { ...candidate, manifest_id: registered.manifest_id },
    ...(opts.since ? { since: opts.since } : {}),
    ...(opts.until ? { until: opts.until } : {}),
    ...(opts.limit ? { limit: Number(opts.limit) } : {}),
  };
  const path = `/manifests/${encodeURIComponent(registered.manifest_id)}/replay`;
  return (await (await callApi(api, "POST", path, body)).json()) as ReplayReport;
}

/** The verdict: exit 1 when the candidate would allow what was refused, or when not every action was replayed. */
function gate(report: ReplayReport, opts: ReplayOptions): void {
  if (report.loosening > 0 && !opts.allowLoosening)
    throw new CliError(
      `${report.loosening} recorded DENY/ESCALATE decision(s) would become ALLOW (pass --allow-loosening to accept)`,
      1,
    );
  // The oldest `limit` actions were replayed: a loosening among the newer ones would pass the gate unseen.
  if (report.truncated)
    throw new CliError(
      `more recorded actions matched than --limit ${opts.limit ?? DEFAULT_LIMIT}: the newer ones were not replayed and could hold a loosening (narrow --since/--until or raise --limit, at most 100000)`,
      1,
    );
}

/** The org's manifest of `uapkId`, looked for on every page of the list (an org may have more than one page). */
async function registeredManifest(api: ApiOptions, uapkId: string) {
  const found = (await registeredManifests(api)).find((m) => m.uapk_id === uapkId);
  return found as { uapk_id: string; manifest_id: string } | undefined;
}

function printReport(report: ReplayReport, io: CliIo): void {
  const range = `${report.since ?? "the beginning"} → ${report.until ?? "now"}`;
  io.stdout(
    `replayed ${report.replayed} recorded action(s) of ${report.uapk_id} (${range})${report.truncated ? " — truncated at the limit" : ""} in ${report.elapsed_ms} ms`,
  );
  io.stdout(`candidate sha256 ${report.candidate_hash} vs registered version ${report.current_version}`);
  io.stdout("recorded → candidate   count   samples");
  for (const cell of report.matrix) {
    const mark = cell.from === cell.to ? " " : cell.to === "ALLOW" ? "!" : "*";
    io.stdout(
      `${mark} ${cell.from.padEnd(8)} → ${cell.to.padEnd(8)} ${String(cell.count).padStart(7)}   ${cell.sample_interaction_ids.join(", ")}`,
    );
  }
  for (const change of report.reason_changes)
    io.stdout(
      `  reason ${change.code}: +${change.added} −${change.removed}   ${change.sample_interaction_ids.join(", ")}`,
    );
  io.stdout(`changed ${report.changed}: loosening ${report.loosening}, tightening ${report.tightening}`);
  for (const note of report.notes ?? []) io.stdout(`note: ${note}`);
}
