export { createConnectors, type ConnectorRegistry, type ConnectorRegistryOptions } from "./registry";
export type { Connector, ConnectorCall, ConnectorResult, ConnectorError, SecretSource } from "./types";
export { isAllowedSecretRef, secretsFromEnvironment, SECRET_REF_PREFIX } from "./types";
export { createHttpConnector, MAX_RESPONSE_BYTES } from "./http";
export { createPurutoConnector, type PurutoInvoker } from "./puruto";
export { createEchoConnector, noopConnector } from "./simple";
export {
  checkUrl,
  guardedLookup,
  hostAllowed,
  isPrivateAddress,
  DestinationRefused,
  type Lookup,
} from "./network-guard";
export { expandUrlTemplate, UrlTemplateError } from "./url-template";
export { validateConnectorConfig, CONNECTOR_TYPES, type ConnectorProblem } from "./validation";
