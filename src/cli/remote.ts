// CLI commands that talk to a running Gatehouse over its API (the same checks as any other client):
// approvals, audit export, manifests apply.

import { readdirSync } from "node:fs";
import { extname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { sha256Canonical } from "../core/audit/canonical";
import { printable, printableJson } from "../core/audit/printable";
import { contentOf } from "../core/policy/manifest-repository";
import { validateManifest } from "../core/policy/manifest-validation";
import type { ManifestInput } from "../core/policy/types";
import type { CliIo } from "./audit-verify";
import { readInputFileSync, SMALL_INPUT_BYTES } from "./input-file";
import { CliError } from "./local";

export interface ApiOptions {
  url: string;
  token?: string;
  org: string;
}

/**
 * One call to the org's operator API; a non-2xx answer becomes a CliError with the problem's detail (exit 2 for a
 * 400, else 1).
 */
export async function callApi(api: ApiOptions, method: string, path: string, body?: unknown): Promise<Response> {
  return call(api, method, path, body);
}

async function call(api: ApiOptions, method: string, path: string, body?: unknown): Promise<Response> {
  if (!api.token)
    throw new CliError("an operator token is needed: --token or GATEHOUSE_TOKEN (gatehouse token --role operator)", 2);
  let res: Response;
  try {
    res = await fetch(`${api.url}/api/v1/orgs/${encodeURIComponent(api.org)}${path}`, {
      method,
      headers: { authorization: `Bearer ${api.token}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
  } catch (err) {
    throw new CliError(`cannot reach Gatehouse at ${api.url}: ${(err as Error).message} (--url or GATEHOUSE_URL)`);
  }
  if (!res.ok) {
    const text = await res.text();
    let detail = text;
    try {
      detail = (JSON.parse(text) as { detail?: string }).detail ?? text;
    } catch {}
    // 400: the request the command line made is invalid (`--status bogus`): a usage error, exit 2 as for a bad
    // option the CLI refuses itself; any other refusal is of what was asked (not found, already decided…): exit 1.
    throw new CliError(`${method} ${path}: ${res.status} ${detail}`, res.status === 400 ? 2 : 1);
  }
  return res;
}

/** Approvals read per request by `approvals list` (the API's largest page). */
const APPROVALS_PAGE = 500;

/**
 * Every approval of the org, page after page: an agent that floods escalations must not push the older pending ones
 * out of the operator's view (the first page alone showed 100 of 2,410).
 */
export async function listApprovals(api: ApiOptions, opts: { status?: string }, io: CliIo): Promise<void> {
  // An agent chose its agent_id and params: escaped, so they cannot add a column, a line or repaint one.
  const cell = (value: unknown) => printable(typeof value === "string" ? value : JSON.stringify(value ?? ""));
  let listed = 0;
  const seen = new Set<string>();
  for (let cursor: string | undefined; ; ) {
    const query = new URLSearchParams({ limit: String(APPROVALS_PAGE) });
    if (opts.status) query.set("status", opts.status);
    if (cursor) query.set("cursor", cursor);
    const res = await call(api, "GET", `/approvals?${query}`);
    const body = (await res.json()) as { items?: Record<string, unknown>[]; next_cursor?: string };
    for (const a of body.items ?? [])
      io.stdout([a.approval_id, a.status, a.agent_id ?? "", a.action ?? {}].map(cell).join("\t"));
    listed += body.items?.length ?? 0;
    // A cursor seen before would list the same page again, for ever.
    if (!body.next_cursor || seen.has(body.next_cursor)) break;
    seen.add(body.next_cursor);
    cursor = body.next_cursor;
  }
  if (listed === 0) io.stderr("no approvals");
}

export async function decideApproval(
  api: ApiOptions,
  decision: "approve" | "deny",
  id: string,
  reason: string | undefined,
  io: CliIo,
) {
  const res = await call(api, "POST", `/approvals/${encodeURIComponent(id)}/${decision}`, reason ? { reason } : {});
  const body = (await res.json()) as { status?: string };
  io.stdout(`${id}\t${body.status}`);
}

/**
 * The export, each record's canonical line with its control, format and separator characters written as `\\uXXXX`
 * (src/core/audit/printable.ts printableJson): an agent's U+009B (a terminal's CSI) or U+202E no longer acts on the
 * terminal it is printed to, and U+2028/U+0085 no longer split a record for a reader that breaks lines on them
 * (Python's splitlines()). Each line parses to the same record, and `audit verify` accepts the escaped form. The API
 * sends it escaped so already (src/core/audit/export-pages.ts, the same function): escaping it again changes
 * nothing, and keeps an older gateway's raw export off the terminal.
 */
export async function exportAudit(api: ApiOptions, io: CliIo): Promise<void> {
  const text = await (await call(api, "GET", "/interactions/export")).text();
  io.stdout(printableJson(text.trimEnd()));
}

interface ManifestFile {
  file: string;
  input?: Record<string, unknown>;
  problems: string[];
}

export function readManifestDir(dir: string): ManifestFile[] {
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => [".yaml", ".yml", ".json"].includes(extname(f).toLowerCase()))
      .sort();
  } catch (err) {
    throw new CliError(`cannot read manifest folder ${dir}: ${printable((err as Error).message)}`, 2);
  }
  return files.map((file) => {
    try {
      const text = readInputFileSync(join(dir, file), SMALL_INPUT_BYTES);
      const input = (extname(file).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text)) as Record<
        string,
        unknown
      >;
      return { file, input, problems: validateManifest(input).map((p) => `${p.pointer} ${p.message}`) };
    } catch (err) {
      return { file, problems: [(err as Error).message] };
    }
  });
}

export function validateManifests(dir: string, io: CliIo): void {
  const files = readManifestDir(dir);
  // A CI step pointed at the wrong folder must not pass on nothing checked.
  if (files.length === 0) throw new CliError(`no manifest file (.yaml, .yml, .json) in ${printable(dir)}`);
  let bad = 0;
  for (const f of files) {
    if (f.problems.length) bad++;
    io.stdout(f.problems.length ? `${f.file}: invalid\n  ${f.problems.join("\n  ")}` : `${f.file}: valid`);
  }
  if (bad) throw new CliError(`${bad} of ${files.length} manifest file(s) invalid`);
}

/** A registered manifest's fields that are not its content (what `Manifests_get` adds to the body). */
const REGISTRY_FIELDS = new Set([
  "manifest_id",
  "org_id",
  "status",
  "version",
  "content_hash",
  "created_at",
  "updated_at",
]);

/** Content fields of a file that differ from the registered manifest with the same uapk_id (added or removed too). */
function changedFields(input: Record<string, unknown>, existing: Record<string, unknown>): string[] {
  const fields = new Set([...Object.keys(input), ...Object.keys(existing)].filter((k) => !REGISTRY_FIELDS.has(k)));
  return [...fields].filter((k) => JSON.stringify(input[k]) !== JSON.stringify(existing[k]));
}

/** The plan for one file: create it, update the registered manifest of its uapk_id, or leave it. */
function planOf(input: Record<string, unknown>, existing: Record<string, unknown> | undefined): string {
  if (!existing) return "create";
  // The content hash is the gateway's own comparison (RFC 8785): key order or number spelling is no change.
  if (sha256Canonical(contentOf(input as ManifestInput)) === existing.content_hash) return "unchanged";
  return `update (${changedFields(input, existing).join(", ") || "content"})`;
}

/** Every manifest of the org, page after page (an org may have more than one page). */
export async function registeredManifests(api: ApiOptions): Promise<Record<string, unknown>[]> {
  const all: Record<string, unknown>[] = [];
  let cursor: string | undefined;
  do {
    const query = `?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const page = (await (await call(api, "GET", `/manifests${query}`)).json()) as {
      items?: Record<string, unknown>[];
      next_cursor?: string;
    };
    all.push(...(page.items ?? []));
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

/**
 * GitOps over the API: a file whose uapk_id is registered replaces that manifest's content (PUT by its id, a new
 * version); a new uapk_id is registered (POST). Unchanged files are not sent.
 */
export async function applyManifests(
  api: ApiOptions,
  dir: string,
  opts: { dryRun: boolean },
  io: CliIo,
): Promise<void> {
  const files = readManifestDir(dir);
  const invalid = files.filter((f) => f.problems.length);
  // Each file with why, as `manifests validate` says it: a name alone sent the operator to run that one next.
  if (invalid.length)
    throw new CliError(
      `invalid manifest(s), nothing applied:\n${invalid.map((f) => `${f.file}: invalid\n  ${f.problems.join("\n  ")}`).join("\n")}`,
    );
  const byUapk = new Map((await registeredManifests(api)).map((m) => [m.uapk_id, m]));
  for (const { file, input } of files)
    await applyOne(api, { file, input: input! }, byUapk.get(input!.uapk_id), opts, io);
}

/**
 * Applies one valid file and says what it did, with the manifest_id: the id `GET …/manifests/{id}/versions` and the
 * other manifest paths take, which is not the uapk_id the file names (a user asking with that one got 404).
 */
async function applyOne(
  api: ApiOptions,
  { file, input }: { file: string; input: Record<string, unknown> },
  existing: Record<string, unknown> | undefined,
  opts: { dryRun: boolean },
  io: CliIo,
): Promise<void> {
  const plan = planOf(input, existing);
  const line = `${opts.dryRun && plan !== "unchanged" ? "would " : ""}${plan}: ${input.uapk_id} (${file})`;
  let id = existing?.manifest_id ?? input.manifest_id;
  if (!opts.dryRun && plan !== "unchanged") {
    try {
      id = (await sent(api, input, existing)).manifest_id ?? id;
    } catch (err) {
      io.stdout(line); // which file the refusal that follows is about
      throw err;
    }
  }
  io.stdout(id === undefined ? line : `${line}, manifest_id ${printable(String(id))}`);
}

/** The file's manifest sent: PUT to the registered one of its uapk_id, else registered (POST); the answer's body. */
async function sent(api: ApiOptions, input: Record<string, unknown>, existing: Record<string, unknown> | undefined) {
  const res = existing
    ? await call(api, "PUT", `/manifests/${encodeURIComponent(String(existing.manifest_id))}`, input)
    : await call(api, "POST", "/manifests", input);
  return (await res.json()) as { manifest_id?: unknown };
}
