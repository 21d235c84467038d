// Sign-in to the console through an external OpenID Connect provider (authorization code + PKCE, run in the
// browser by oauth4webapi): which provider and client, from the environment. The console reads it from
// /console/config.json; the API keeps verifying every bearer token against JWKS_URL as before.
//   GATEHOUSE_OIDC_ISSUER     the provider's issuer URL (discovery: <issuer>/.well-known/openid-configuration)
//   GATEHOUSE_OIDC_CLIENT_ID  the console's public client id there (no secret: a browser cannot keep one)
//   GATEHOUSE_OIDC_SCOPE      default "openid profile"
export interface ConsoleOidc {
  issuer: string;
  client_id: string;
  scope: string;
}

export function consoleOidcFromEnv(env: Record<string, string | undefined>): ConsoleOidc | undefined {
  const issuer = env.GATEHOUSE_OIDC_ISSUER;
  const clientId = env.GATEHOUSE_OIDC_CLIENT_ID;
  if (!issuer && !clientId) return undefined;
  if (!issuer || !clientId)
    throw new Error("GATEHOUSE_OIDC_ISSUER and GATEHOUSE_OIDC_CLIENT_ID are set together (or neither)");
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    throw new Error(`GATEHOUSE_OIDC_ISSUER must be a URL, got '${issuer}'`);
  }
  // Plain http only for a provider on this machine (tests, local development).
  const local = url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]";
  if (url.protocol !== "https:" && !(url.protocol === "http:" && local))
    throw new Error(`GATEHOUSE_OIDC_ISSUER must be https (http only on loopback), got '${issuer}'`);
  return { issuer, client_id: clientId, scope: env.GATEHOUSE_OIDC_SCOPE || "openid profile" };
}
