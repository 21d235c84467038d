// Sessions: the org's live IDE sessions on this gateway node — who, since when, whether the IDE and the agent
// runtime are attached, and the governed tool calls still waiting (for the IDE or for an operator).
import { useEffect, useState } from "preact/hooks";
import { describeProblem, type LiveSession, type Session } from "../api";
import { type Column, DataTable, ErrorLine, Status, When } from "./common";

/** Sessions change with no event of their own on the API: re-read while the view is open. */
const REFRESH_MS = 5000;

const yesNo = (value: boolean) => (value ? "connected" : "not connected");

const COLUMNS: Column<LiveSession>[] = [
  { header: "Session", cell: (s) => <code>{s.session_id}</code> },
  { header: "User", cell: (s) => s.user },
  { header: "Agent", cell: (s) => s.agent ?? "—" },
  { header: "Started", cell: (s) => <When at={s.created_at} /> },
  { header: "IDE", cell: (s) => yesNo(s.ide_connected) },
  { header: "Agent runtime", cell: (s) => yesNo(s.runtime_connected) },
  { header: "Pending tool calls", cell: (s) => String(s.pending_tool_calls) },
  { header: "Awaiting approval", cell: (s) => String(s.awaiting_approval) },
];

export function SessionsView({ session }: { session: Session }) {
  const [items, setItems] = useState<LiveSession[]>();
  const [error, setError] = useState<string>();
  const load = async () => {
    const { data, error, response } = await session.client.GET("/api/v1/orgs/{org_id}/sessions", {
      params: { path: { org_id: session.org } },
    });
    if (!data) return setError(describeProblem(error, response.status));
    setError(undefined);
    setItems(data.items);
  };
  useEffect(() => {
    void load();
    const timer = setInterval(load, REFRESH_MS);
    return () => clearInterval(timer);
  }, [session]);
  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      <Status>
        {items === undefined
          ? "Loading…"
          : `${items.length} live session${items.length === 1 ? "" : "s"} on this node.`}
      </Status>
      <button type="button" onClick={load}>
        Refresh
      </button>
      <ErrorLine message={error} />
      <DataTable
        label="Live sessions"
        rows={items ?? []}
        rowKey={(s) => s.session_id}
        columns={COLUMNS}
        empty="No IDE is connected."
      />
    </section>
  );
}
