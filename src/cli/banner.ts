// What `gatehouse serve` (make run) prints once it listens: how to call it, and `export` lines that a person pastes
// into a shell so that the README's curl lines, its WebSocket example and the gatehouse CLI's commands over the API
// (approvals, policy replay, evidence get, mcp-stdio) work as printed, whatever the port.
import { dirname, join, relative } from "node:path";

export interface BannerFacts {
  url: string;
  dataDir: string;
  /** The default org's API key, if one is configured. */
  apiKey?: string;
  /**
   * Print working credentials (the API key, the tokens): only for the development default (`make run`). Elsewhere
   * the banner lands in logs, and names the variables and the CLI command instead.
   */
  credentials?: boolean;
  /** The built-in development issuer signs user tokens (no external identity provider). */
  issuer?: boolean;
  org: string;
  agentRuntime: string;
  /** Tokens of the built-in development issuer (absent with an external identity provider). */
  tokens?: { operator: string; ide: string };
  /** How this installation runs the gatehouse CLI (default: the source tree's `npm run -s gatehouse --`). */
  cli?: string;
}

/**
 * The gatehouse CLI beside the server that is running: `node dist/cli.js` when it runs from the production bundle
 * (`npm start`: after `npm ci --omit=dev` there is no tsx for `npm run gatehouse`), else the npm script.
 */
export function cliCommand(entry: string | undefined, cwd: string): string {
  if (!entry?.endsWith(".js")) return "npm run -s gatehouse --";
  const cli = join(dirname(entry), "cli.js");
  const shown = relative(cwd, cli);
  return `node ${shown.startsWith("..") ? cli : shown}`;
}

export function bannerLines(facts: BannerFacts): string[] {
  const { url, apiKey, org, tokens } = facts;
  const shownKey = facts.credentials ? apiKey : "$PURUTO_GATEWAY_API_KEY";
  const lines = [
    ``,
    `Gatehouse ${url} (data: ${facts.dataDir})`,
    ``,
    `  curl ${url}/health`,
    apiKey
      ? `  curl -H "X-API-Key: ${shownKey}" ${url}/purutos`
      : `  (no API key configured: set PURUTO_GATEWAY_API_KEY — /purutos answers 503 until then)`,
    `  spec:    ${url}/openapi.json   ${url}/asyncapi.yaml`,
    `  console: ${url}/console   (sign in with ${facts.credentials ? "the operator TOKEN below" : "an operator token"})`,
    `  agent runtime: ${facts.agentRuntime}`,
  ];
  if (!facts.credentials) {
    if (facts.issuer)
      lines.push(
        `  operator token: ${facts.cli ?? "npm run -s gatehouse --"} token --sub you --org ${org} --role operator   (with this server's GATEHOUSE_DATA_DIR, or DATABASE_URL and GATEHOUSE_SECRET)`,
      );
    return lines;
  }
  if (!tokens) return lines;
  const cliKey = apiKey ? ` GATEHOUSE_API_KEY="$API_KEY"` : "";
  lines.push(
    `  jwks:    ${url}/.well-known/jwks.json (built-in development issuer)`,
    ``,
    apiKey
      ? `  export API_KEY=${apiKey} ORG_ID=${org}`
      : `  export ORG_ID=${org}   # no API key: set PURUTO_GATEWAY_API_KEY`,
    `  export TOKEN=${tokens.operator}`,
    `  export IDE_TOKEN=${tokens.ide}`,
    // The data folder too: the CLI's local commands (`token`) read the development issuer's key there.
    `  export GATEHOUSE_URL=${url} GATEHOUSE_TOKEN="$TOKEN"${cliKey} GATEHOUSE_DATA_DIR=${shellWord(facts.dataDir)}   # for the gatehouse CLI`,
    `  more tokens: ${facts.cli ?? "npm run -s gatehouse --"} token --sub alice --org ${org} --role operator`,
    ``,
    `  IDE session (WebSocket, token in the Authorization header or Sec-WebSocket-Protocol "bearer.<token>"):`,
    `  ${url.replace("http", "ws")}/ws/my-session   Authorization: Bearer $IDE_TOKEN`,
  );
  return lines;
}

/** `text` as one shell word: as it is when it holds only safe characters, else single-quoted. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/u.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`;
}
