// Connector registry: tool config `type` → connector. Unknown types give `undefined`, which the policy engine
// must treat as "tool not configured" (DENY), never as a no-op.
import { createHttpConnector } from "./http";
import type { Lookup } from "./network-guard";
import { createPurutoConnector, type PurutoInvoker } from "./puruto";
import { createEchoConnector, noopConnector } from "./simple";
import type { Connector, SecretSource } from "./types";

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
  // A call may bring its own secret source; without one, the http connectors look secret_refs up here.
  const httpOptions = { lookup: options.lookup, isBlockedAddress: options.isBlockedAddress, secrets: options.secrets };
  const connectors = new Map<string, Connector>([
    ["echo", echo],
    ["mock", echo],
    ["noop", noopConnector],
    ["http", createHttpConnector("http", httpOptions)],
    ["webhook", createHttpConnector("webhook", httpOptions)],
  ]);
  if (options.invokePuruto) connectors.set("puruto", createPurutoConnector(options.invokePuruto));

  return (type) => connectors.get(type);
}
