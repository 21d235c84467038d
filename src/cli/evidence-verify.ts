// `gatehouse evidence verify BUNDLE.json --jwks FILE|URL`: checks an evidence bundle offline with nothing but the
// public keys, and says what it proves. Exit 0 when it verifies, 1 when it does not (what broke is named: "decision:
// …", "approval: decided_by …", "manifest: content …", "outcome: …", "proof: …"), 2 on a usage error or an
// unreadable input.
import type { KeyObject } from "node:crypto";
import { verifyEvidence } from "../core/audit/evidence-verify";
import { printable } from "../core/audit/printable";
import { type CliIo, hasDuplicateKeys, jwksToKeys, loadJwks } from "./audit-verify";
import { LARGE_INPUT_BYTES, readInputFile } from "./input-file";
import { CliError } from "./local";

export async function runEvidenceVerify(file: string, jwksSource: string, io: CliIo): Promise<void> {
  let keys: Map<string, KeyObject>;
  try {
    keys = jwksToKeys(await loadJwks(jwksSource));
  } catch (err) {
    throw new CliError(`cannot load JWKS from ${jwksSource}: ${printable((err as Error).message)}`, 2);
  }
  let text: string;
  let bundle: unknown;
  try {
    text = await readInputFile(file, LARGE_INPUT_BYTES);
    bundle = JSON.parse(text);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${printable((err as Error).message)}`, 2);
  }
  // JSON.parse keeps a repeated key's last value, another reader (or a person) its first: the bundle checked would
  // not be the bundle read, so it is refused, as `audit verify` refuses such a line.
  if (hasDuplicateKeys(text)) {
    io.stderr("FAIL: bundle: has duplicate keys in one object (readers could take either value)");
    throw new CliError("evidence verification failed", 1);
  }
  const result = verifyEvidence(bundle, (kid) => keys.get(kid));
  if (!result.valid) {
    // A forged bundle's values reach the reason ("decision: <its value> is not …"): one line, escaped.
    io.stderr(`FAIL: ${printable(result.reason)}`);
    throw new CliError("evidence verification failed", 1);
  }
  io.stdout(`OK: evidence bundle verified with ${keys.size} key(s) from the JWKS. It proves:`);
  for (const line of result.proves) io.stdout(`  - ${printable(line)}`);
}
