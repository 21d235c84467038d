// Notifications: the org's webhook subscriptions for approval events (add, remove) and the delivery log with
// every try. Delivery, signing and retries are the server's (README: "Approval notifications").
import { useEffect, useState } from "preact/hooks";
import { describeProblem, type Session, type Webhook, type WebhookDelivery } from "../api";
import { type Column, DataTable, ErrorLine, LoadMore, PAGE_SIZE, pageResult, usePagedList, When } from "./common";

const SUBSCRIPTIONS: Column<Webhook>[] = [
  { header: "URL", cell: (w) => <code>{w.url}</code> },
  { header: "Format", cell: (w) => w.format },
  { header: "Events", cell: (w) => w.events.join(", ") },
  { header: "Source", cell: (w) => w.source },
];

const lastTry = (d: WebhookDelivery) => {
  const last = d.attempts.at(-1);
  if (!last) return "—";
  return last.error ?? `HTTP ${last.status_code}`;
};

const DELIVERIES: Column<WebhookDelivery>[] = [
  { header: "Event", cell: (d) => d.event },
  { header: "Approval", cell: (d) => <a href={`#/approvals/${encodeURIComponent(d.approval_id)}`}>{d.approval_id}</a> },
  { header: "Status", cell: (d) => d.status },
  { header: "Tries", cell: (d) => String(d.attempts.length) },
  { header: "Last answer", cell: lastTry },
  { header: "Created", cell: (d) => <When at={d.created_at} /> },
];

function AddWebhook({ session, onAdded }: { session: Session; onAdded: () => void }) {
  const [url, setUrl] = useState("");
  const [format, setFormat] = useState<"gatehouse" | "slack">("gatehouse");
  const [secret, setSecret] = useState<string>();
  const [error, setError] = useState<string>();
  const submit = async (e: Event) => {
    e.preventDefault();
    const { data, error, response } = await session.client.POST("/api/v1/orgs/{org_id}/webhooks", {
      params: { path: { org_id: session.org } },
      body: { url: url.trim(), format },
    });
    if (!data) return setError(describeProblem(error, response.status));
    setError(undefined);
    setSecret(data.secret);
    setUrl("");
    onAdded();
  };
  return (
    <form aria-label="Add a webhook" onSubmit={submit} class="issue">
      <label for="webhook-url">Webhook URL</label>
      <input id="webhook-url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} required />
      <label for="webhook-format">Format</label>
      <select
        id="webhook-format"
        value={format}
        onInput={(e) => setFormat(e.currentTarget.value as "gatehouse" | "slack")}
      >
        <option value="gatehouse">gatehouse (signed JSON)</option>
        <option value="slack">slack (incoming webhook)</option>
      </select>
      <button type="submit">Add webhook</button>
      <ErrorLine message={error} />
      {secret && (
        <div>
          <label for="webhook-secret">Signing secret (shown once)</label>
          <input id="webhook-secret" readOnly value={secret} />
        </div>
      )}
    </form>
  );
}

export function NotificationsView({ session }: { session: Session }) {
  const [error, setError] = useState<string>();
  const path = { org_id: session.org };
  const page = (cursor: string | undefined) => ({ limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) });
  const webhooks = usePagedList<Webhook>(async (cursor) =>
    pageResult(await session.client.GET("/api/v1/orgs/{org_id}/webhooks", { params: { path, query: page(cursor) } })),
  );
  const deliveries = usePagedList<WebhookDelivery>(async (cursor) =>
    pageResult(
      await session.client.GET("/api/v1/orgs/{org_id}/webhooks/deliveries", { params: { path, query: page(cursor) } }),
    ),
  );
  const load = async () => {
    setError(undefined);
    await Promise.all([webhooks.reload(), deliveries.reload()]);
  };
  useEffect(() => void load(), [session]);
  const remove = async (w: Webhook) => {
    const { error, response } = await session.client.DELETE("/api/v1/orgs/{org_id}/webhooks/{webhook_id}", {
      params: { path: { org_id: session.org, webhook_id: w.webhook_id } },
    });
    if (error) return setError(describeProblem(error, response.status));
    // Its pending deliveries were abandoned: both lists changed.
    await load();
  };
  return (
    <section aria-labelledby="notifications-title">
      <h2 id="notifications-title">Notifications</h2>
      <AddWebhook session={session} onAdded={() => void webhooks.reload()} />
      <ErrorLine message={error ?? webhooks.error ?? deliveries.error} />
      <DataTable
        label="Webhooks"
        rows={webhooks.items}
        loaded={webhooks.loaded}
        rowKey={(w) => w.webhook_id}
        columns={SUBSCRIPTIONS}
        empty="No webhook: approvals are only shown here."
        actions={(w) =>
          w.source === "api" && (
            <button type="button" aria-label={`Remove ${w.url}`} onClick={() => remove(w)}>
              Remove
            </button>
          )
        }
      />
      <LoadMore list={webhooks} what="webhooks" />
      <h3>Deliveries</h3>
      <button type="button" onClick={() => void deliveries.reload()}>
        Refresh deliveries
      </button>
      <DataTable
        label="Deliveries"
        rows={deliveries.items}
        loaded={deliveries.loaded}
        rowKey={(d) => d.delivery_id}
        columns={DELIVERIES}
        empty="Nothing delivered yet."
      />
      <LoadMore list={deliveries} what="deliveries" />
    </section>
  );
}
