// The `gatehouse` command line (`npm run -s gatehouse -- <command>`):
//   token --sub NAME [--org ORG] [--role ROLE]... [--ttl SECONDS]   mint a token from the built-in dev issuer
//   audit verify FILE --jwks JWKS_FILE                              verify an exported audit log offline
//   mcp-stdio --url URL (--agent UAPK_ID | --purutos)               stdio ↔ Streamable HTTP MCP bridge
import { parseArgs } from "node:util";
import { loadConfig } from "../config";
import { loadDevIssuer } from "../core/identity/dev-issuer";

const USAGE = `usage:
  gatehouse token --sub NAME [--org ORG] [--role ROLE ...] [--ttl SECONDS]
  gatehouse audit verify FILE --jwks JWKS_FILE
  gatehouse mcp-stdio --url URL (--agent UAPK_ID | --purutos) [--api-key KEY | --token BEARER]`;

async function token(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: "string" },
      org: { type: "string" },
      role: { type: "string", multiple: true },
      ttl: { type: "string", default: "3600" },
    },
  });
  if (!values.sub) {
    console.error(USAGE);
    return 2;
  }
  const ttl = Number(values.ttl);
  if (!Number.isInteger(ttl) || ttl <= 0) {
    console.error("--ttl must be a positive number of seconds");
    return 2;
  }
  const config = loadConfig();
  if (config.jwksUrl) {
    console.error("JWKS_URL is set: tokens come from that identity provider, not from Gatehouse's dev issuer");
    return 2;
  }
  const issuer = await loadDevIssuer(config.dataDir, config.jwtIssuer, config.jwtAudience);
  console.log(await issuer.mint({ sub: values.sub, org: values.org ?? config.defaultOrg, roles: values.role ?? [], ttlSeconds: ttl }));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "token") return token(rest);
  if (command === "mcp-stdio") return (await import("../faces/mcp/stdio-bridge")).mcpStdioCommand(rest);
  if (command === "audit" && rest[0] === "verify") {
    const { runAuditVerify } = await import("./audit-verify");
    return runAuditVerify(rest.slice(1));
  }
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
