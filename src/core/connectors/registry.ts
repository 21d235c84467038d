// Connector registry: tool config `type` → connector. Unknown types give `undefined`, which the policy engine
// must treat as "tool not configured" (DENY), never as a no-op.
import { createHttpConnector } from "./http";
import type { Lookup } from "./network-guard";
import { createPurutoConnector, type PurutoInvoker } from "./puruto";
import { createEchoConnector, noopConnector } from "./simple";
import type { Connector, ConnectorCall, SecretSource } from "./types";

export interface ConnectorRegistryOptions {
  /** The discovery face's invoker; without it, `puruto` tools are not available. */
  invokePuruto?: PurutoInvoker;
  /**
   * Where `secret_ref`s are looked up when a call brings none; defaults to process.env. Only `GATEHOUSE_SECRET_*`
   * names are ever looked up, whatever the source holds.
   */
  secrets?: SecretSource;
  /** DNS resolution for the SSRF guard (tests inject one). */
  lookup?: Lookup;
  /** Overrides which resolved addresses the SSRF guard refuses (tests only). */
  isBlockedAddress?: (address: string) => boolean;
  now?: () => Date;
}

export type ConnectorRegistry = (type: string) => Connector | undefined;

export function createConnectors(options: ConnectorRegistryOptions = {}): ConnectorRegistry {
  const echo = createEchoConnector(options.now);
  const connectors = new Map<string, Connector>([
    ["echo", echo],
    ["mock", echo],
    ["noop", noopConnector],
    ["http", createHttpConnector("http", { lookup: options.lookup, isBlockedAddress: options.isBlockedAddress })],
    ["webhook", createHttpConnector("webhook", { lookup: options.lookup, isBlockedAddress: options.isBlockedAddress })],
  ]);
  if (options.invokePuruto) connectors.set("puruto", createPurutoConnector(options.invokePuruto));

  return (type) => {
    const connector = connectors.get(type);
    if (!connector) return undefined;
    return (call) => connector(withSecrets(call, options.secrets));
  };
}

/**
 * The call with the gateway's secrets when it brings none. Its properties are copied as defined, not read: a
 * lazy `signal` (a getter) stays lazy.
 */
function withSecrets(call: ConnectorCall, secrets: ConnectorCall["secrets"]): ConnectorCall {
  if (call.secrets !== undefined || secrets === undefined) return call;
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(call)) as ConnectorCall;
  return Object.defineProperty(copy, "secrets", {
    value: secrets,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}
