// Registration-time check of a tool's connector block, in exactly the vocabulary the connectors read
// (http.ts, puruto.ts; spec/orgs.tsp `ConnectorConfig`). Every problem is listed with a JSON pointer, so an
// operator fixes a manifest once. What can only be known at call time (DNS answers, secret values, params)
// is still checked by the connector itself.
import { hostAllowed } from "./network-guard";
import { isHeaderValue, MAX_RESPONSE_BYTES, TRANSPORT_HEADERS } from "./http";
import { isAllowedSecretRef, SECRET_REF_PREFIX } from "./types";

export interface ConnectorProblem {
  /** JSON pointer relative to the connector block ("" is the block itself). */
  pointer: string;
  message: string;
}

export const CONNECTOR_TYPES = ["echo", "noop", "http", "webhook", "puruto"] as const;
const HTTP_FIELDS = ["url", "method", "headers", "allowed_hosts", "allow_private", "timeout_ms", "max_response_bytes"];
const FIELDS: Record<(typeof CONNECTOR_TYPES)[number], readonly string[]> = {
  echo: [],
  noop: [],
  http: HTTP_FIELDS,
  webhook: HTTP_FIELDS,
  puruto: ["puruto", "command"],
};
const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
const MAX_TIMEOUT_MS = 60_000;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Old names of fields, so a manifest written for them gets a pointer to the new one instead of a bare "unknown". */
const RENAMED: Record<string, string> = {
  allowed_domains: "allowed_hosts",
  secret_headers: "headers with {secret_ref} values",
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isNonEmptyString = (v: unknown): v is string => typeof v === "string" && v.trim() !== "";

export function validateConnectorConfig(connector: unknown): ConnectorProblem[] {
  const problems: ConnectorProblem[] = [];
  const add = (pointer: string, message: string) => problems.push({ pointer, message });
  if (!isObject(connector)) return [{ pointer: "", message: "connector must be an object with a type" }];

  const type = connector.type as (typeof CONNECTOR_TYPES)[number];
  if (!CONNECTOR_TYPES.includes(type)) {
    add("/type", `connector type must be one of ${CONNECTOR_TYPES.join(", ")}`);
    return problems;
  }
  for (const key of Object.keys(connector)) {
    if (key === "type" || FIELDS[type].includes(key)) continue;
    const hint = RENAMED[key] ? ` (use ${RENAMED[key]})` : "";
    add(`/${key}`, `'${key}' is not a setting of a ${type} connector${hint}`);
  }
  if (type === "http" || type === "webhook") checkHttp(type, connector, add);
  if (type === "puruto") {
    if (!isNonEmptyString(connector.puruto)) add("/puruto", "a puruto connector needs the puruto's name");
    if (!isNonEmptyString(connector.command)) add("/command", "a puruto connector needs the command to run");
  }
  return problems;
}

function checkHttp(
  type: "http" | "webhook",
  c: Record<string, unknown>,
  add: (pointer: string, message: string) => void,
): void {
  const allowed = c.allowed_hosts;
  const hosts: string[] = [];
  if (allowed === undefined)
    add(
      "/allowed_hosts",
      `a ${type} connector needs allowed_hosts (deny by default: without it the tool reaches nothing)`,
    );
  else if (!Array.isArray(allowed) || allowed.length === 0)
    add("/allowed_hosts", "allowed_hosts must list at least one host");
  else
    allowed.forEach((host, i) => {
      if (!isNonEmptyString(host) || /[/:?#@\s]/.test(host.replace(/^\[.*\]$/, "")))
        add(`/allowed_hosts/${i}`, `'${String(host)}' is not a host name (e.g. api.example.com or *.example.com)`);
      else hosts.push(host);
    });

  if (!isNonEmptyString(c.url)) add("/url", `a ${type} connector needs a url`);
  else checkUrlTemplate(c.url, hosts, allowed !== undefined, add);

  if (c.method !== undefined) {
    if (typeof c.method !== "string" || !METHODS.includes(c.method.toUpperCase()))
      add("/method", `method must be one of ${METHODS.join(", ")}`);
    else if (type === "webhook" && c.method.toUpperCase() !== "POST")
      add("/method", "a webhook always POSTs; remove method or use an http connector");
  }

  if (c.headers !== undefined) {
    if (!isObject(c.headers)) add("/headers", "headers must be an object of name → value or {secret_ref, prefix?}");
    else
      for (const [name, value] of Object.entries(c.headers)) {
        const at = `/headers/${name.replace(/~/g, "~0").replace(/\//g, "~1")}`;
        if (!HEADER_NAME.test(name)) add(at, `'${name}' is not a valid header name`);
        else if (TRANSPORT_HEADERS.has(name.toLowerCase()))
          add(at, `'${name}' is set by the gateway and cannot be configured`);
        if (typeof value === "string") {
          if (!isHeaderValue(value)) add(at, "a header value cannot hold CR, LF, NUL or characters beyond Latin-1");
          continue;
        }
        if (!isObject(value) || !isNonEmptyString(value.secret_ref))
          add(at, "a header value is a string or {secret_ref: NAME, prefix?: string}");
        else {
          if (!SECRET_NAME.test(value.secret_ref))
            add(`${at}/secret_ref`, `'${value.secret_ref}' is not a secret (environment variable) name`);
          else if (!isAllowedSecretRef(value.secret_ref))
            add(
              `${at}/secret_ref`,
              `'${value.secret_ref}' cannot be used: a secret_ref must name a ${SECRET_REF_PREFIX}* environment variable`,
            );
          if (value.prefix !== undefined && (typeof value.prefix !== "string" || !isHeaderValue(value.prefix)))
            add(`${at}/prefix`, "prefix must be a string without CR, LF, NUL or characters beyond Latin-1");
          const extra = Object.keys(value).filter((k) => k !== "secret_ref" && k !== "prefix");
          if (extra.length) add(at, `unknown field(s) ${extra.join(", ")} in a secret header`);
        }
      }
  }

  if (c.allow_private !== undefined && typeof c.allow_private !== "boolean")
    add("/allow_private", "allow_private must be true or false");
  checkInteger(c.timeout_ms, "/timeout_ms", MAX_TIMEOUT_MS, add);
  checkInteger(c.max_response_bytes, "/max_response_bytes", MAX_RESPONSE_BYTES, add);
}

/** The template must be an http(s) URL whose host is fixed (not a param) and allowed by the tool's own list. */
function checkUrlTemplate(
  template: string,
  hosts: string[],
  listGiven: boolean,
  add: (pointer: string, message: string) => void,
): void {
  let url: URL;
  try {
    url = new URL(template.replace(/\{[A-Za-z0-9_.-]+\}/g, "p"));
  } catch {
    return add("/url", `'${template}' is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return add("/url", "url must use http or https");
  if (url.username || url.password) add("/url", "url must not carry credentials; use a header with a secret_ref");
  const authority = template.slice(template.indexOf("//") + 2).split(/[/?#]/)[0] ?? ""; // split yields ≥ 1 part
  if (/[{}]/.test(authority)) return add("/url", "the host of url cannot come from a {param}");
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  if (listGiven && hosts.length > 0 && !hostAllowed(hostname, hosts))
    add("/url", `the url's host ${hostname} is not in allowed_hosts, so every call would be refused`);
}

function checkInteger(
  value: unknown,
  pointer: string,
  max: number,
  add: (pointer: string, message: string) => void,
): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || (value as number) < 1 || (value as number) > max)
    add(pointer, `${pointer.slice(1)} must be an integer from 1 to ${max}`);
}
