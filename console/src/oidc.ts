// Sign-in through the organisation's OpenID Connect provider: authorization code with PKCE (S256), run in the
// browser by oauth4webapi. Nothing secret is kept: the PKCE verifier, state and nonce live in this tab's
// sessionStorage from the redirect to the callback only (and at most PENDING_MAX_AGE_MS); the resulting access
// token is kept like a pasted one, the ID token beside it only to name the session at sign-out (RP-initiated
// logout, OpenID Connect RP-Initiated Logout 1.0).
import * as oauth from "oauth4webapi";

export interface OidcConfig {
  issuer: string;
  client_id: string;
  scope: string;
}

const PENDING_KEY = "gatehouse.console.oidc";
const ID_TOKEN_KEY = "gatehouse.console.oidc.id_token";

/**
 * How long a sign-in may take at the provider. An attempt older than this is refused at the callback: a code
 * arriving so late was not asked for by someone at the keyboard now (a callback replayed from history, a tab left
 * open), and a password manager or MFA prompt fits in it easily.
 */
export const PENDING_MAX_AGE_MS = 10 * 60_000;

interface Pending {
  verifier: string;
  state: string;
  nonce: string;
  /** Where the operator was (`#/approvals/<id>` from a notification): restored after the callback. */
  hash: string;
  /** When the attempt started (ms since the epoch). */
  created: number;
}

/**
 * Drops a sign-in attempt that can no longer complete: every page load that is not the provider's callback
 * (the operator came back without signing in, reloaded, or followed a link). A verifier and state left behind
 * would otherwise wait in the tab for a callback nobody is expecting.
 */
export function forgetAbandonedSignIn(): void {
  if (!isOidcCallback()) sessionStorage.removeItem(PENDING_KEY);
}

/** The gateway's console configuration (served next to the console). */
export async function loadOidcConfig(): Promise<OidcConfig | undefined> {
  const response = await fetch("/console/config.json").catch(() => undefined);
  if (!response?.ok) return undefined;
  const config = (await response.json()) as { oidc?: OidcConfig };
  return config.oidc;
}

/** Plain http is accepted only for a provider on this machine (tests, local development). */
function insecureAllowed(issuer: URL) {
  const local = ["127.0.0.1", "localhost", "[::1]"].includes(issuer.hostname);
  return issuer.protocol === "http:" && local ? { [oauth.allowInsecureRequests]: true } : {};
}

async function discover(config: OidcConfig): Promise<oauth.AuthorizationServer> {
  const issuer = new URL(config.issuer);
  const response = await oauth.discoveryRequest(issuer, { algorithm: "oidc", ...insecureAllowed(issuer) });
  return oauth.processDiscoveryResponse(issuer, response);
}

/** The console's own address, without query or fragment: the redirect URI registered at the provider. */
export function redirectUri(): string {
  return `${window.location.origin}/console/`;
}

/** Sends the browser to the provider's authorization endpoint. */
export async function startOidcSignIn(config: OidcConfig): Promise<void> {
  const as = await discover(config);
  if (!as.authorization_endpoint) throw new Error("The identity provider has no authorization endpoint");
  const pending: Pending = {
    verifier: oauth.generateRandomCodeVerifier(),
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    hash: window.location.hash,
    created: Date.now(),
  };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set("client_id", config.client_id);
  url.searchParams.set("redirect_uri", redirectUri());
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", config.scope);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(pending.verifier));
  url.searchParams.set("code_challenge_method", "S256");
  url.searchParams.set("state", pending.state);
  url.searchParams.set("nonce", pending.nonce);
  window.location.assign(url.href);
}

/** True when this page load is the provider's redirect back (a `code` or an `error` with a `state`). */
export function isOidcCallback(): boolean {
  const params = new URLSearchParams(window.location.search);
  return params.has("state") && (params.has("code") || params.has("error"));
}

/** What a completed sign-in gives: the bearer for the API, and the ID token that names the session at sign-out. */
export interface OidcTokens {
  accessToken: string;
  idToken: string;
}

/** The attempt this tab started, if it is still fresh; it is used once, whatever happens next. */
function takePending(): Pending {
  const saved = sessionStorage.getItem(PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  const pending = saved ? (JSON.parse(saved) as Partial<Pending>) : undefined;
  // The fragment is ours (window.location.hash when the attempt started); anything else is not restored.
  const hash = typeof pending?.hash === "string" && pending.hash.startsWith("#") ? pending.hash : "";
  window.history.replaceState(null, "", `${redirectUri()}${hash}`);
  if (!pending?.verifier || !pending.state || !pending.nonce)
    throw new Error("This sign-in was not started from this tab; start it again.");
  const age = Date.now() - (pending.created ?? 0);
  if (!(age >= 0 && age <= PENDING_MAX_AGE_MS))
    throw new Error("This sign-in was started more than 10 minutes ago; start it again.");
  return pending as Pending;
}

/**
 * Exchanges the code for tokens (PKCE verifier, state and nonce checked) and returns them. The API takes the
 * access token only, and only as a JWT it can verify against JWKS_URL: an ID token is not an access token and the
 * gateway refuses one (src/core/identity/user-tokens.ts), so there is no falling back to it.
 * The callback's query is removed from the address bar either way.
 */
export async function completeOidcSignIn(config: OidcConfig): Promise<OidcTokens> {
  const callback = new URL(window.location.href);
  const pending = takePending();
  const as = await discover(config);
  const client: oauth.Client = { client_id: config.client_id };
  const params = oauth.validateAuthResponse(as, client, callback, pending.state);
  const issuer = new URL(config.issuer);
  const response = await oauth.authorizationCodeGrantRequest(
    as,
    client,
    oauth.None(),
    params,
    redirectUri(),
    pending.verifier,
    insecureAllowed(issuer),
  );
  const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
    expectedNonce: pending.nonce,
    requireIdToken: true,
  });
  if (tokens.access_token.split(".").length !== 3)
    throw new Error(
      "The identity provider returned an access token that is not a JWT, which the gateway cannot verify: have it " +
        "issue JWT access tokens for this gateway's audience (GATEHOUSE_JWT_AUDIENCE).",
    );
  return { accessToken: tokens.access_token, idToken: tokens.id_token! };
}

/** The ID token of a single sign-on session, kept beside its access token for this tab only. */
export const idTokenStore = {
  load: (): string | null => sessionStorage.getItem(ID_TOKEN_KEY),
  save: (token: string) => sessionStorage.setItem(ID_TOKEN_KEY, token),
};

/** Forgets every trace of sign-in in this tab: a pending attempt and the ID token (the caller clears the bearer). */
export function forgetOidcSignIn(): void {
  sessionStorage.removeItem(PENDING_KEY);
  sessionStorage.removeItem(ID_TOKEN_KEY);
}

/**
 * Where to send the browser to end the provider's session too: its `end_session_endpoint`, with the ID token as
 * `id_token_hint`, this client's id, and the console itself as `post_logout_redirect_uri` (built from this page's
 * own origin, never from anything in the address bar, so sign-out cannot be made to land elsewhere). Undefined when
 * the provider publishes no such endpoint. The endpoint must be on the issuer's origin: it receives the ID token,
 * and the console talks to that origin only (its Content-Security-Policy).
 */
export async function endSessionUrl(config: OidcConfig, idToken: string): Promise<URL | undefined> {
  const as = await discover(config);
  if (!as.end_session_endpoint) return undefined;
  let url: URL;
  try {
    url = new URL(as.end_session_endpoint);
  } catch {
    throw new Error("its end_session_endpoint is not a URL");
  }
  if (url.origin !== new URL(config.issuer).origin)
    throw new Error(`its end_session_endpoint is not on ${new URL(config.issuer).host}`);
  url.searchParams.set("id_token_hint", idToken);
  url.searchParams.set("post_logout_redirect_uri", redirectUri());
  url.searchParams.set("client_id", config.client_id);
  return url;
}
