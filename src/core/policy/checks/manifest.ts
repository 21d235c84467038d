// manifest_validation: the manifest `uapk_id` exists in the caller's org, is active, and describes this agent.
// Its trace names the manifest version decided with (`manifest_version`, `manifest_hash`): the audit record of the
// decision thereby signs which content was applied, and an evidence bundle can prove it.
import { clipped } from "../clip";
import { type CheckInput, type CheckOutcome, defineCheck, deny, whenReady } from "../policy-check";
import type { Manifest } from "../types";

export const manifestCheck = defineCheck({
  name: "manifest_validation",
  needs: [],
  provides: ["manifest"],
  run(input, deps) {
    // No wait when the store answers at once (the embedded one; see whenReady).
    return whenReady(deps.manifests.getByUapkId(input.orgId, input.request.uapk_id), (manifest) =>
      validate(input, manifest),
    );
  },
});

function validate(input: CheckInput, manifest: Manifest | undefined): CheckOutcome<"manifest"> {
  const { uapk_id, agent_id } = input.request;
  if (!manifest) return deny("MANIFEST_NOT_FOUND", `No manifest '${clipped(uapk_id)}' is registered`);
  if (manifest.agent.id !== agent_id)
    return deny(
      "MANIFEST_NOT_FOUND",
      `Manifest '${clipped(uapk_id)}' is not registered for agent '${clipped(agent_id)}'`,
    );
  if (manifest.status !== "active")
    return deny("MANIFEST_INACTIVE", `Manifest '${uapk_id}' is ${manifest.status}`, { status: manifest.status });
  return {
    kind: "continue",
    result: "pass",
    details: {
      manifest_id: manifest.manifest_id,
      manifest_version: manifest.version,
      manifest_hash: manifest.content_hash,
    },
    facts: { manifest },
  };
}
