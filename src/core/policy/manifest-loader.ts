// GitOps: load every manifest file (*.yaml, *.yml, *.json) of a folder at start-up. A broken file is
// reported and skipped — it never stops the gateway nor hides the other manifests.
import { readdirSync, readFileSync } from "node:fs";
import { basename, extname, join } from "node:path";
import { parse as parseYaml } from "yaml";
import { logger } from "../log/logger";
import { InvalidManifestError, type ManifestRepository } from "./manifest-repository";
import type { ManifestProblem, ManifestSchemaCheck } from "./manifest-validation";
import type { Manifest, ManifestInput } from "./types";

const log = logger.child({ module: "manifests" });
const MANIFEST_EXTENSIONS = new Set([".yaml", ".yml", ".json"]);

export interface ManifestLoadReport {
  loaded: Manifest[];
  /** `errors`: the same {pointer, message} items a REST registration answers with. */
  problems: { file: string; message: string; errors?: ManifestProblem[] }[];
}

export interface ManifestLoadOptions {
  /**
   * The spec's schema check (src/http/spec.ts `validateSchema("ManifestInput", …)`, the REST layer's Ajv): a file
   * is held to the schema a REST registration is held to. The cross-field rules run either way.
   */
  checkSchema?: ManifestSchemaCheck;
}

export function loadManifestDir(
  dir: string,
  repo: Pick<ManifestRepository, "upsert">,
  orgId: string,
  options: ManifestLoadOptions = {},
): ManifestLoadReport {
  const report: ManifestLoadReport = { loaded: [], problems: [] };
  for (const file of manifestFiles(dir, report)) {
    try {
      report.loaded.push(repo.upsert(orgId, readManifestFile(file, options), authorOf(file)));
    } catch (err) {
      skipped(report, file, err);
    }
  }
  log.info({ dir, loaded: report.loaded.length, skipped: report.problems.length }, "manifests loaded");
  return report;
}

/** The same for a store that answers asynchronously (the shared store of several nodes). */
export async function loadManifestDirInto(
  dir: string,
  repo: { upsert(orgId: string, input: ManifestInput, author?: string): Manifest | Promise<Manifest> },
  orgId: string,
  options: ManifestLoadOptions = {},
): Promise<ManifestLoadReport> {
  const report: ManifestLoadReport = { loaded: [], problems: [] };
  for (const file of manifestFiles(dir, report)) {
    try {
      report.loaded.push(await repo.upsert(orgId, readManifestFile(file, options), authorOf(file)));
    } catch (err) {
      skipped(report, file, err);
    }
  }
  log.info({ dir, loaded: report.loaded.length, skipped: report.problems.length }, "manifests loaded");
  return report;
}

/** Who changed a manifest loaded from the folder, as its version records it. */
const authorOf = (file: string) => `manifest-dir:${basename(file)}`;

/** The manifest files of the folder in name order; an unreadable folder is reported. */
function manifestFiles(dir: string, report: ManifestLoadReport): string[] {
  try {
    return readdirSync(dir)
      .filter((f) => MANIFEST_EXTENSIONS.has(extname(f).toLowerCase()))
      .sort()
      .map((f) => join(dir, f));
  } catch (err) {
    report.problems.push({ file: dir, message: `cannot read manifest folder: ${(err as Error).message}` });
    log.warn({ dir, err }, "manifest folder unreadable");
    return [];
  }
}

function readManifestFile(path: string, options: ManifestLoadOptions): ManifestInput {
  const text = readFileSync(path, "utf8");
  const input = (extname(path).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text)) as ManifestInput;
  const schemaProblems = options.checkSchema?.(input) ?? [];
  if (schemaProblems.length) throw new InvalidManifestError(schemaProblems);
  return input;
}

function skipped(report: ManifestLoadReport, path: string, err: unknown): void {
  const errors = err instanceof InvalidManifestError ? err.problems : undefined;
  const message = errors
    ? `${(err as Error).message}: ${errors.map((p) => `${p.pointer} ${p.message}`).join("; ")}`
    : (err as Error).message;
  report.problems.push({ file: path, message, ...(errors ? { errors } : {}) });
  log.warn({ file: path, problem: message }, "manifest skipped");
}
