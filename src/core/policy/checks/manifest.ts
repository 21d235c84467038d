// manifest_validation: the manifest `uapk_id` exists in the caller's org, is active, and describes this agent.
import type { PolicyCheck } from "../pipeline";

export const manifestCheck: PolicyCheck = {
  name: "manifest_validation",
  run(ctx, deps) {
    const { uapk_id, agent_id } = ctx.request;
    const manifest = deps.manifests.getByUapkId(ctx.orgId, uapk_id);
    if (!manifest)
      return { result: "fail", reasons: [{ code: "MANIFEST_NOT_FOUND", message: `No manifest '${uapk_id}' is registered` }] };
    if (manifest.agent.id !== agent_id)
      return {
        result: "fail",
        reasons: [{ code: "MANIFEST_NOT_FOUND", message: `Manifest '${uapk_id}' is not registered for agent '${agent_id}'` }],
      };
    if (manifest.status !== "active")
      return {
        result: "fail",
        reasons: [{ code: "MANIFEST_INACTIVE", message: `Manifest '${uapk_id}' is ${manifest.status}` }],
        details: { status: manifest.status },
      };
    ctx.manifest = manifest;
    return { result: "pass", details: { manifest_id: manifest.manifest_id } };
  },
};
