// Entry point of the operator console: sign-in, then one view per tab.
import { render } from "preact";
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

function SignIn({ onSignedIn }: { onSignedIn: (session: Session) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const session = await signIn(token);
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
  if (!session) return <SignIn onSignedIn={setSession} />;
  return (
    <Console
      session={session}
      onSignOut={() => {
        tokenStore.clear();
        setSession(undefined);
      }}
    />
  );
}

render(<App />, document.getElementById("app")!);
