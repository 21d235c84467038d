// A tiny OpenID Connect provider for tests, on jose: discovery, an authorization endpoint that signs the
// configured user in at once (no login page), a token endpoint that checks the PKCE verifier (S256), the
// redirect URI and the client, and a JWKS. It issues an access token for the gateway (aud `gatehouse`, with
// `org` and `roles`) and an ID token for the client (with the nonce). With `endSession`, it publishes an
// end_session_endpoint (RP-initiated logout) that checks the id_token_hint, the client and the registered
// post-logout redirect URI, as real providers do. CORS is open: the console calls it from its own origin.
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, jwtVerify, SignJWT } from "jose";

export interface TestOidcProvider {
  issuer: string;
  jwksUrl: string;
  /** Every request received (method and path with query), in order. */
  requests: string[];
  /** A token signed by this provider for the configured user: `claims` beside iss, sub, iat, exp and `audience`. */
  sign(claims: Record<string, unknown>, audience: string, header?: { typ?: string }): Promise<string>;
  close(): Promise<void>;
}

export interface TestOidcOptions {
  clientId: string;
  redirectUri: string;
  /** Who signs in: claims of the access token. */
  user: { sub: string; org: string; roles: string[] };
  audience?: string;
  /** Publish an end_session_endpoint (`/logout`). */
  endSession?: boolean;
  /** The end_session_endpoint published instead of this provider's `/logout`. */
  endSessionEndpoint?: string;
  /** The registered post-logout redirect URI (default: the redirect URI). */
  postLogoutRedirectUri?: string;
  /** Answer the code exchange with an opaque (non-JWT) access token. */
  opaqueAccessToken?: boolean;
  /** The authorization endpoint shows a page with a "Continue" link to the callback instead of redirecting at once. */
  holdAuthorize?: boolean;
}

interface Grant {
  challenge: string;
  nonce: string | null;
}

const cors = { "access-control-allow-origin": "*", "access-control-allow-headers": "*" };

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store", ...cors });
  res.end(JSON.stringify(body));
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  let body = "";
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

export async function startTestOidcProvider(options: TestOidcOptions): Promise<TestOidcProvider> {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid: "test-oidc-1", alg: "RS256", use: "sig" };
  const grants = new Map<string, Grant>();
  const requests: string[] = [];
  let issuer = "";
  const sign = (claims: Record<string, unknown>, audience: string, header: { typ?: string } = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ ...header, alg: "RS256", kid: jwk.kid })
      .setIssuer(issuer)
      .setAudience(audience)
      .setSubject(options.user.sub)
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(privateKey);

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", issuer);
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.method === "OPTIONS") return res.writeHead(204, cors).end();
    if (url.pathname === "/.well-known/openid-configuration") {
      return json(res, 200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
        code_challenge_methods_supported: ["S256"],
        token_endpoint_auth_methods_supported: ["none"],
        ...(options.endSession ? { end_session_endpoint: options.endSessionEndpoint ?? `${issuer}/logout` } : {}),
      });
    }
    if (url.pathname === "/logout" && options.endSession) return endSession(url.searchParams, res);
    if (url.pathname === "/jwks") return json(res, 200, { keys: [jwk] });
    if (url.pathname === "/authorize") {
      const q = url.searchParams;
      const refused =
        q.get("client_id") !== options.clientId ||
        q.get("redirect_uri") !== options.redirectUri ||
        q.get("response_type") !== "code" ||
        q.get("code_challenge_method") !== "S256" ||
        !q.get("code_challenge");
      if (refused) return json(res, 400, { error: "invalid_request" });
      const code = randomBytes(16).toString("base64url");
      grants.set(code, { challenge: q.get("code_challenge") ?? "", nonce: q.get("nonce") });
      const back = new URL(options.redirectUri);
      back.searchParams.set("code", code);
      back.searchParams.set("state", q.get("state") ?? "");
      if (options.holdAuthorize) {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        return res.end(`<!doctype html><title>Provider</title><a id="continue" href="${back.href}">Continue</a>`);
      }
      return res.writeHead(302, { location: back.href }).end();
    }
    if (url.pathname === "/token" && req.method === "POST") {
      const form = await readForm(req);
      const code = form.get("code") ?? "";
      const grant = grants.get(code);
      grants.delete(code); // one use
      const verifier = form.get("code_verifier") ?? "";
      const challenge = createHash("sha256").update(verifier).digest("base64url");
      if (
        !grant ||
        form.get("grant_type") !== "authorization_code" ||
        form.get("client_id") !== options.clientId ||
        form.get("redirect_uri") !== options.redirectUri ||
        challenge !== grant.challenge
      )
        return json(res, 400, { error: "invalid_grant" });
      const { org, roles } = options.user;
      return json(res, 200, {
        token_type: "Bearer",
        expires_in: 600,
        access_token: options.opaqueAccessToken
          ? randomBytes(24).toString("base64url")
          : await sign({ org, roles, scope: "openid profile" }, options.audience ?? "gatehouse"),
        id_token: await sign({ ...(grant.nonce ? { nonce: grant.nonce } : {}), org }, options.clientId),
      });
    }
    json(res, 404, { error: "not_found" });
  });
  /** RP-initiated logout: only a hint this provider signed for this client, and only back to the registered URI. */
  async function endSession(q: URLSearchParams, res: ServerResponse): Promise<void> {
    const hint = await jwtVerify(q.get("id_token_hint") ?? "", publicKey, { issuer, audience: options.clientId }).catch(
      () => undefined,
    );
    const back = q.get("post_logout_redirect_uri");
    if (
      !hint ||
      q.get("client_id") !== options.clientId ||
      back !== (options.postLogoutRedirectUri ?? options.redirectUri)
    )
      return json(res, 400, { error: "invalid_request" });
    res.writeHead(302, { location: back }).end();
  }

  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    jwksUrl: `${issuer}/jwks`,
    requests,
    sign,
    async close() {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}
