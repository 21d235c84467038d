// Capability tokens: issue one (with constraints) for a manifest's agent, list them, revoke one.
import { useEffect, useState } from "preact/hooks";
import { describeProblem, type CapabilityTokenInfo, type Session } from "../api";
import { type Column, DataTable, ErrorLine, LoadMore, PAGE_SIZE, pageResult, usePagedList, When } from "./common";

const COLUMNS: Column<CapabilityTokenInfo>[] = [
  { header: "Token id", cell: (t) => t.token_id },
  { header: "Agent", cell: (t) => t.agent_id },
  { header: "Capabilities", cell: (t) => t.capabilities.join(", ") },
  { header: "Expires", cell: (t) => <When at={t.expires_at} /> },
  { header: "State", cell: (t) => (t.revoked ? "revoked" : "active") },
];

const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

function IssueForm({ session, onIssued }: { session: Session; onIssued: () => void }) {
  const [form, setForm] = useState({
    uapk: "",
    agent: "",
    capabilities: "",
    hours: "24",
    maxActions: "",
    recipients: "",
  });
  const [issued, setIssued] = useState<string>();
  const [error, setError] = useState<string>();
  const bind = (name: keyof typeof form) => ({
    id: `issue-${name}`,
    value: form[name],
    onInput: (e: Event) => setForm({ ...form, [name]: (e.currentTarget as HTMLInputElement).value }),
  });
  const submit = async (e: Event) => {
    e.preventDefault();
    const constraints = {
      ...(form.maxActions ? { max_actions: Number(form.maxActions) } : {}),
      ...(form.recipients ? { allowed_recipients: list(form.recipients) } : {}),
    };
    const { data, error, response } = await session.client.POST("/api/v1/orgs/{org_id}/capability-tokens", {
      params: { path: { org_id: session.org } },
      body: {
        uapk_id: form.uapk,
        agent_id: form.agent || form.uapk,
        capabilities: list(form.capabilities),
        expires_in_hours: Number(form.hours) || 24,
        ...(Object.keys(constraints).length ? { constraints } : {}),
      },
    });
    if (!data) return setError(describeProblem(error, response.status));
    setError(undefined);
    setIssued(data.token);
    onIssued();
  };
  return (
    <form aria-label="Issue a capability token" onSubmit={submit} class="issue">
      <label for="issue-uapk">Manifest (uapk_id)</label>
      <input {...bind("uapk")} required />
      <label for="issue-agent">Agent id</label>
      <input {...bind("agent")} placeholder="the manifest's agent" />
      <label for="issue-capabilities">Capabilities (comma separated)</label>
      <input {...bind("capabilities")} required placeholder="email:send" />
      <label for="issue-hours">Lifetime in hours</label>
      <input {...bind("hours")} inputMode="decimal" />
      <label for="issue-maxActions">Max actions</label>
      <input {...bind("maxActions")} inputMode="numeric" />
      <label for="issue-recipients">Allowed recipients (comma separated globs)</label>
      <input {...bind("recipients")} />
      <button type="submit">Issue token</button>
      <ErrorLine message={error} />
      {issued && (
        <div>
          <label for="issued-token">Issued token (shown once)</label>
          <textarea id="issued-token" readOnly rows={3} value={issued} />
        </div>
      )}
    </form>
  );
}

export function TokensView({ session }: { session: Session }) {
  const [error, setError] = useState<string>();
  const list = usePagedList<CapabilityTokenInfo>(async (cursor) =>
    pageResult(
      await session.client.GET("/api/v1/orgs/{org_id}/capability-tokens", {
        params: {
          path: { org_id: session.org },
          query: { include_inactive: true, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) },
        },
      }),
    ),
  );
  useEffect(() => void list.reload(), [session]);
  const revoke = async (token: CapabilityTokenInfo) => {
    const { data, error, response } = await session.client.POST(
      "/api/v1/orgs/{org_id}/capability-tokens/{token_id}/revoke",
      {
        params: { path: { org_id: session.org, token_id: token.token_id } },
        body: { reason: "revoked from the console" },
      },
    );
    if (!data) return setError(describeProblem(error, response.status));
    setError(undefined);
    // In place: a token on a later page stays where the operator found it.
    list.patch((t) => (t.token_id === data.token_id ? { ...t, revoked: true, revoked_at: data.revoked_at } : t));
  };
  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">Capability tokens</h2>
      <IssueForm session={session} onIssued={() => void list.reload()} />
      <ErrorLine message={error ?? list.error} />
      <DataTable
        label="Capability tokens"
        rows={list.items}
        loaded={list.loaded}
        rowKey={(t) => t.token_id}
        columns={COLUMNS}
        empty="No capability token issued."
        actions={(t) =>
          !t.revoked && (
            <button type="button" aria-label={`Revoke ${t.token_id}`} onClick={() => revoke(t)}>
              Revoke
            </button>
          )
        }
      />
      <LoadMore list={list} what="tokens" />
    </section>
  );
}
