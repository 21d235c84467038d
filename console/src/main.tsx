// Entry point of the operator console: sign-in, then one view per tab.
import { options, render } from "preact";
import "./app.css";
import { useEffect, useState } from "preact/hooks";
import { describeProblem, sessionFor, tokenStore, type Session } from "./api";
import { ApprovalsView } from "./views/approvals";
import { InteractionsView } from "./views/interactions";
import { ManifestsView } from "./views/manifests";
import { TokensView } from "./views/tokens";
import { PurutosView } from "./views/purutos";
import { SessionsView } from "./views/sessions";
import { NotificationsView } from "./views/notifications";
import { printable } from "./views/params";
import {
  completeOidcSignIn,
  endSessionUrl,
  forgetAbandonedSignIn,
  forgetOidcSignIn,
  idTokenStore,
  isOidcCallback,
  loadOidcConfig,
  type OidcConfig,
  startOidcSignIn,
} from "./oidc";

// Every text the console renders is agent or user data somewhere (a recipient, an agent id, an action type, a
// reason): a bidi override or a zero-width space in it would make the page read as something else ("x bob@evil.com"
// from "x \u202emoc.live@bob", another agent's name in the audit log). Each text node shows its control and
// invisible characters as `\uXXXX` escapes (views/params.tsx printable), whatever view renders it.
// So does every attribute a person or a screen reader reads (a card's aria-label names the agent).
const nextVnodeHook = options.vnode;
const READ_ATTRIBUTES = ["aria-label", "title", "alt", "placeholder"] as const;
options.vnode = (vnode) => {
  if (vnode.type === null && typeof vnode.props === "string")
    (vnode as { props: unknown }).props = printable(vnode.props);
  else if (typeof vnode.type === "string") {
    const props = vnode.props as Record<string, unknown>;
    for (const name of READ_ATTRIBUTES) {
      const value = props[name];
      if (typeof value === "string") props[name] = printable(value);
    }
  }
  nextVnodeHook?.(vnode);
};

const VIEWS = [
  { id: "approvals", label: "Approvals", View: ApprovalsView },
  { id: "interactions", label: "Interactions", View: InteractionsView },
  { id: "manifests", label: "Manifests", View: ManifestsView },
  { id: "tokens", label: "Capability tokens", View: TokensView },
  { id: "purutos", label: "Purutos", View: PurutosView },
  { id: "sessions", label: "Sessions", View: SessionsView },
  { id: "notifications", label: "Notifications", View: NotificationsView },
] as const;

type ViewId = (typeof VIEWS)[number]["id"];

/**
 * Where the console is, in the URL's fragment: `#/<view>`, or `#/approvals/<id>` for one approval (the link
 * that notifications carry). The fragment survives sign-in and never reaches the server.
 */
interface Route {
  view: ViewId;
  approvalId?: string;
}

function routeOf(hash: string): Route {
  const [, view, id] = hash.replace(/^#/, "").split("/");
  const known = VIEWS.find((v) => v.id === view);
  if (!known) return { view: "approvals" };
  return known.id === "approvals" && id ? { view: known.id, approvalId: decodeURIComponent(id) } : { view: known.id };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => routeOf(window.location.hash));
  useEffect(() => {
    const follow = () => setRoute(routeOf(window.location.hash));
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);
  return route;
}

/** Checks the token against the operator API before accepting it, so a wrong token is refused up front. */
async function signIn(token: string): Promise<Session> {
  const session = sessionFor(token.trim());
  if (!session) throw new Error("This is not a Gatehouse user token (a JWT naming an organization).");
  const { error, response } = await session.client.GET("/api/v1/orgs/{org_id}/approvals", {
    params: { path: { org_id: session.org }, query: { limit: 1 } },
  });
  if (error) {
    const why = describeProblem(error, response.status);
    throw new Error(
      response.status === 403 ? `This token cannot operate the console: ${why}` : `Sign-in failed: ${why}`,
    );
  }
  return session;
}

/** Set just before the browser goes to the provider's end_session_endpoint: the notice shown when it comes back. */
const SIGNED_OUT_AT_KEY = "gatehouse.console.signed_out_at";

/**
 * Sign-out forgets the tokens in this tab first; a single sign-on session is then ended at the provider too
 * (RP-initiated logout) when it publishes how. Resolves to what to tell the operator when the browser stays here.
 * The access token itself stays valid at the API until it expires: the gateway verifies it offline (JWKS).
 */
async function signOut(oidc: OidcConfig | undefined): Promise<string | undefined> {
  const idToken = idTokenStore.load();
  tokenStore.clear();
  forgetOidcSignIn();
  if (!idToken) return undefined; // a pasted token: no provider session to end
  if (!oidc) return "Signed out of the console only: the gateway's single sign-on settings could not be read.";
  const host = new URL(oidc.issuer).host;
  let url: URL | undefined;
  try {
    url = await endSessionUrl(oidc, idToken);
  } catch (err) {
    return `Signed out of the console only: ${host} could not be asked to end your session there (${(err as Error).message}). Sign out there too.`;
  }
  if (!url)
    return `Signed out of the console only: ${host} offers no sign-out endpoint (end_session_endpoint), so your session there stays open until you sign out there or close the browser.`;
  sessionStorage.setItem(SIGNED_OUT_AT_KEY, host);
  window.location.assign(url.href);
  return `Signing out of ${host}…`;
}

/** The notice of a sign-out that went through the provider, once, when the browser is back. */
function takeSignedOutNotice(): string | undefined {
  const host = sessionStorage.getItem(SIGNED_OUT_AT_KEY);
  sessionStorage.removeItem(SIGNED_OUT_AT_KEY);
  return host ? `Signed out. ${host} was asked to end your session there too.` : undefined;
}

function SingleSignOn({ oidc }: { oidc: OidcConfig }) {
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const start = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await startOidcSignIn(oidc);
    } catch (err) {
      setError(`Single sign-on is not available: ${(err as Error).message}`);
      setBusy(false);
    }
  };
  return (
    <div class="sso">
      <button type="button" onClick={start} disabled={busy}>
        Sign in with single sign-on
      </button>
      <p class="hint">
        Through <code>{new URL(oidc.issuer).host}</code> (authorization code with PKCE).
      </p>
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
    </div>
  );
}

function SignIn({
  onSignedIn,
  oidc,
  initialError,
  notice,
}: {
  onSignedIn: (session: Session) => void;
  oidc?: OidcConfig | undefined;
  initialError?: string | undefined;
  notice?: string | undefined;
}) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | undefined>(initialError);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const session = await signIn(token);
      forgetOidcSignIn(); // a pasted token has no provider session for sign-out to end
      tokenStore.save(session.token);
      onSignedIn(session);
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <h1>Gatehouse console</h1>
      {notice && (
        <p role="status" class="hint">
          {notice}
        </p>
      )}
      {oidc && <SingleSignOn oidc={oidc} />}
      <form onSubmit={submit} aria-label="Sign in">
        <label for="operator-token">Operator token</label>
        <textarea
          id="operator-token"
          rows={4}
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          autocomplete="off"
          spellcheck={false}
        />
        <p class="hint">
          Paste a token printed by <code>make run</code> or <code>gatehouse token</code>. It stays in this tab only.
        </p>
        <button type="submit" disabled={busy || token.trim() === ""}>
          Sign in
        </button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function Console({ session, onSignOut }: { session: Session; onSignOut: () => void }) {
  const route = useRoute();
  const view = route.view;
  const current = VIEWS.find((v) => v.id === view) ?? VIEWS[0];
  return (
    <div class="console">
      <header>
        <h1>Gatehouse console</h1>
        <p class="who">
          Signed in as <strong>{session.sub}</strong> · organization <strong>{session.org}</strong>
        </p>
        <button type="button" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <nav aria-label="Views">
        {/* biome-ignore lint/a11y/noNoninteractiveElementToInteractiveRole: a tab list built on a list is the ARIA tabs pattern the console tests drive by role */}
        <ul role="tablist">
          {VIEWS.map((v) => (
            <li key={v.id} role="presentation">
              <button
                type="button"
                role="tab"
                id={`tab-${v.id}`}
                aria-selected={v.id === view}
                aria-controls="view"
                onClick={() => {
                  window.location.hash = `#/${v.id}`;
                }}
              >
                {v.label}
              </button>
            </li>
          ))}
        </ul>
      </nav>
      <main id="view" role="tabpanel" aria-labelledby={`tab-${view}`}>
        <current.View session={session} {...(route.approvalId ? { focus: route.approvalId } : {})} />
      </main>
    </div>
  );
}

function App() {
  const [session, setSession] = useState<Session | undefined>(() => {
    const saved = tokenStore.load();
    return saved ? sessionFor(saved) : undefined;
  });
  const [oidc, setOidc] = useState<OidcConfig>();
  const [callback, setCallback] = useState(isOidcCallback);
  const [ssoError, setSsoError] = useState<string>();
  const [notice, setNotice] = useState(takeSignedOutNotice);
  useEffect(() => {
    void (async () => {
      const config = await loadOidcConfig();
      setOidc(config);
      if (!isOidcCallback()) return;
      try {
        if (!config) throw new Error("single sign-on is not configured on this gateway");
        // The provider's access token is checked against the operator API like a pasted one.
        const tokens = await completeOidcSignIn(config);
        const signed = await signIn(tokens.accessToken);
        tokenStore.save(signed.token);
        idTokenStore.save(tokens.idToken);
        setSession(signed);
      } catch (err) {
        setSsoError((err as Error).message);
      } finally {
        setCallback(false);
      }
    })();
  }, []);
  if (callback && !session) return <p role="status">Completing sign-in…</p>;
  if (!session) return <SignIn onSignedIn={setSession} oidc={oidc} initialError={ssoError} notice={notice} />;
  return (
    <Console
      session={session}
      onSignOut={() => {
        setSsoError(undefined);
        setSession(undefined);
        void signOut(oidc).then(setNotice);
      }}
    />
  );
}

// Before anything reads sessionStorage: a sign-in attempt this load does not complete is over.
forgetAbandonedSignIn();
render(<App />, document.getElementById("app")!);
