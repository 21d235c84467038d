// What a manifest tool may take from the gateway itself rather than from its manifest: this machine's purutos (a
// `puruto` connector), its GATEHOUSE_SECRET_* variables (a header's `secret_ref`) and its private network
// (`allow_private`: loopback, the gateway's own ports, local services). Each belongs to one org, as /purutos does
// (GATEHOUSE_PURUTO_ORG, GATEHOUSE_SECRETS_ORG): another org's manifest naming them would run another tenant's
// commands, send its credentials to a host of the manifest's choosing, or reach what only the gateway should.
import type { ToolConfig } from "./types";

/** The org each of the gateway's own resources belongs to; undefined: every org may use it. */
export interface GatewayResourceOrgs {
  purutos?: string | undefined;
  secrets?: string | undefined;
}

/** What of the gateway's own a tool of `orgId` would use without being its org's, or undefined. */
export function foreignResourceOf(
  connector: ToolConfig["connector"],
  owners: GatewayResourceOrgs | undefined,
  orgId: string,
): string | undefined {
  const theirs = (owner: string | undefined) => owner !== undefined && owner !== orgId;
  if (connector.type === "puruto" && theirs(owners?.purutos)) return "its purutos";
  if (!theirs(owners?.secrets)) return undefined;
  if (namesSecret(connector.headers)) return "its GATEHOUSE_SECRET_* variables";
  if (connector.allow_private === true) return "its private network (allow_private)";
  return undefined;
}

function namesSecret(headers: ToolConfig["connector"]["headers"]): boolean {
  return Object.values(headers ?? {}).some((value) => typeof value === "object" && value !== null);
}
