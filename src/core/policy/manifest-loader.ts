// GitOps: load every manifest file (*.yaml, *.yml, *.json) of a folder at start-up. A broken file is
// reported and skipped — it never stops the gateway nor hides the other manifests.
import { readdirSync, readFileSync } from "node:fs";
import { extname, join } from "node:path";
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
  repo: ManifestRepository,
  orgId: string,
  options: ManifestLoadOptions = {},
): ManifestLoadReport {
  const report: ManifestLoadReport = { loaded: [], problems: [] };
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => MANIFEST_EXTENSIONS.has(extname(f).toLowerCase()))
      .sort();
  } catch (err) {
    report.problems.push({ file: dir, message: `cannot read manifest folder: ${(err as Error).message}` });
    log.warn({ dir, err }, "manifest folder unreadable");
    return report;
  }
  for (const file of files) {
    const path = join(dir, file);
    try {
      const text = readFileSync(path, "utf8");
      const input = (extname(file).toLowerCase() === ".json" ? JSON.parse(text) : parseYaml(text)) as ManifestInput;
      const schemaProblems = options.checkSchema?.(input) ?? [];
      if (schemaProblems.length) throw new InvalidManifestError(schemaProblems);
      report.loaded.push(repo.upsert(orgId, input, `manifest-dir:${file}`));
    } catch (err) {
      const errors = err instanceof InvalidManifestError ? err.problems : undefined;
      const message = errors
        ? `${(err as Error).message}: ${errors.map((p) => `${p.pointer} ${p.message}`).join("; ")}`
        : (err as Error).message;
      report.problems.push({ file: path, message, ...(errors ? { errors } : {}) });
      log.warn({ file: path, problem: message }, "manifest skipped");
    }
  }
  log.info({ dir, loaded: report.loaded.length, skipped: report.problems.length }, "manifests loaded");
  return report;
}
