// Sessions: the org's live IDE sessions on this gateway node — who, since when, whether the IDE and the agent
// runtime are attached, and the governed tool calls still waiting (for the IDE or for an operator).
import { useEffect, useRef } from "preact/hooks";
import type { LiveSession, Session } from "../api";
import {
  type Column,
  DataTable,
  ErrorLine,
  LoadMore,
  PAGE_SIZE,
  pageResult,
  Status,
  usePagedList,
  When,
} from "./common";

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
  const list = usePagedList<LiveSession>(async (cursor) =>
    pageResult(
      await session.client.GET("/api/v1/orgs/{org_id}/sessions", {
        params: { path: { org_id: session.org }, query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
      }),
    ),
  );
  // The periodic re-read loads the first page again: it pauses once the operator loaded more, so the pages they
  // asked for are not dropped under them. Refresh starts over (and resumes it).
  const extended = useRef(false);
  const refresh = () => {
    extended.current = false;
    return list.reload();
  };
  useEffect(() => {
    void refresh();
    const timer = setInterval(() => extended.current || void list.reload(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [session]);
  const count = list.items.length;
  const summary = `${count} live session${count === 1 ? "" : "s"} on this node${list.next ? " shown; more to load" : ""}.`;
  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Sessions</h2>
      <Status>
        {list.loaded ? summary : list.error ? "Not loaded." : "Loading…"}
        {extended.current && " Auto-refresh paused while more than the first page is shown."}
      </Status>
      <button type="button" onClick={() => void refresh()}>
        Refresh
      </button>
      <ErrorLine message={list.error} />
      <DataTable
        label="Live sessions"
        rows={list.items}
        loaded={list.loaded}
        rowKey={(s) => s.session_id}
        columns={COLUMNS}
        empty="No IDE is connected."
      />
      <LoadMore
        list={{
          next: list.next,
          busy: list.busy,
          more: () => {
            extended.current = true;
            return list.more();
          },
        }}
        what="sessions"
      />
    </section>
  );
}
