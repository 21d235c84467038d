// Interactions: the org's audit log with filters, one record's detail with its policy trace, and the online
// verification of the whole chain.
import { useEffect, useRef, useState } from "preact/hooks";
import { type ChainVerification, describeProblem, type InteractionRecord, type Session } from "../api";
import { ErrorLine, Json, LoadMore, PAGE_SIZE, pageResult, usePagedList, When } from "./common";

interface Filters {
  agent: string;
  decision: "" | "ALLOW" | "DENY" | "ESCALATE";
  reason: string;
  since: string;
  until: string;
}

const NO_FILTERS: Filters = { agent: "", decision: "", reason: "", since: "", until: "" };
const isoOrUndefined = (local: string) => (local ? new Date(local).toISOString() : undefined);

/** The query of the interactions list: a filter left empty is not sent at all. */
function interactionsQuery(f: Filters, cursor: string | undefined) {
  const since = isoOrUndefined(f.since);
  const until = isoOrUndefined(f.until);
  const reasonCode = f.reason.trim().toUpperCase();
  return {
    limit: PAGE_SIZE,
    ...(cursor ? { cursor } : {}),
    ...(f.agent ? { agent_id: f.agent } : {}),
    ...(f.decision ? { decision: f.decision } : {}),
    ...(reasonCode ? { reason_code: reasonCode } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  };
}

/** Shown for a field the record does not have (a token's records decide nothing). */
const NONE = "—";

/**
 * The Action column: the action asked for (`type:tool`). A capability token's issue or revocation asked for no
 * action (its record has none), so it says what the operator did, and with which capabilities when issued.
 */
function actionLabel(r: InteractionRecord): string {
  if (r.action) return `${r.action.type}:${r.action.tool}`;
  if (r.kind === "token_issued") {
    const capabilities = r.meta?.capabilities;
    const listed = Array.isArray(capabilities) ? ` (${capabilities.join(", ")})` : "";
    return `capability token issued${listed}`;
  }
  if (r.kind === "token_revoked") return "capability token revoked";
  return NONE;
}

/** How many characters of an agent id or an action a row of the log shows (the detail shows all of it). */
const CELL_SHOWN_CHARS = 64;

/**
 * A cell of what the agent chose (its agent_id, up to 256 characters; type and tool, up to 128 each): one such
 * record, wrapped at any character, made every other row of the table tall and narrow. Its first characters, the
 * whole value in the cell's title.
 */
function ClippedCell({ text }: { text: string }) {
  const chars = Array.from(text);
  if (chars.length <= CELL_SHOWN_CHARS) return <td>{text}</td>;
  return <td title={text}>{`${chars.slice(0, CELL_SHOWN_CHARS).join("")}…`}</td>;
}

function VerifyChain({ session }: { session: Session }) {
  const [result, setResult] = useState<ChainVerification>();
  const [error, setError] = useState<string>();
  const verify = async () => {
    const { data, error, response } = await session.client.GET("/api/v1/orgs/{org_id}/interactions/verify", {
      params: { path: { org_id: session.org } },
    });
    setResult(data);
    setError(data ? undefined : describeProblem(error, response.status));
  };
  return (
    <div class="verify">
      <button type="button" onClick={verify}>
        Verify chain
      </button>
      <div role="status" aria-label="Chain verification">
        {result &&
          (result.valid
            ? `Chain valid: ${result.records} records, every hash links and every signature verifies.`
            : `Chain INVALID at record ${result.first_invalid_seq ?? "?"} of ${result.records}: ${result.reason ?? "unknown reason"}`)}
      </div>
      <ErrorLine message={error} />
    </div>
  );
}

function Detail({ record, onClose }: { record: InteractionRecord; onClose: () => void }) {
  return (
    <section aria-labelledby="detail-title" class="detail">
      <h3 id="detail-title">Interaction {record.interaction_id}</h3>
      <button type="button" onClick={onClose}>
        Close detail
      </button>
      <dl>
        <dt>Action</dt>
        <dd>{actionLabel(record)}</dd>
        <dt>Decision</dt>
        <dd>{record.decision ?? NONE}</dd>
        <dt>Reasons</dt>
        <dd>{record.reasons.map((r) => `${r.code}: ${r.message}`).join("; ") || "—"}</dd>
      </dl>
      <h4>Policy trace</h4>
      <table aria-label="Policy trace">
        <thead>
          <tr>
            <th scope="col">Check</th>
            <th scope="col">Result</th>
            <th scope="col">Details</th>
          </tr>
        </thead>
        <tbody>
          {(record.policy_trace?.checks ?? []).map((c, i) => (
            <tr key={i}>
              <td>{c.check}</td>
              <td>{c.result}</td>
              <td>{c.details ? JSON.stringify(c.details) : ""}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Json label="Record" value={record} />
    </section>
  );
}

export function InteractionsView({ session }: { session: Session }) {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [selected, setSelected] = useState<InteractionRecord>();
  // The filters of the loaded pages: the next page is read with them, not with what is being typed.
  const applied = useRef<Filters>(NO_FILTERS);
  // Every filter, the reason code included, is applied by the server (so it covers the whole log, not a page).
  const list = usePagedList<InteractionRecord>(async (cursor) =>
    pageResult(
      await session.client.GET("/api/v1/orgs/{org_id}/interactions", {
        params: { path: { org_id: session.org }, query: interactionsQuery(applied.current, cursor) },
      }),
    ),
  );
  useEffect(() => void list.reload(), [session]);

  const field = (name: keyof Filters) => ({
    id: `filter-${name}`,
    value: filters[name],
    onInput: (e: Event) => setFilters({ ...filters, [name]: (e.currentTarget as HTMLInputElement).value }),
  });
  return (
    <section aria-labelledby="interactions-title">
      <h2 id="interactions-title">Interactions</h2>
      <VerifyChain session={session} />
      <form
        aria-label="Filters"
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          applied.current = filters;
          void list.reload();
        }}
      >
        <label for="filter-agent">Agent</label>
        <input {...field("agent")} />
        <label for="filter-decision">Decision</label>
        <select {...field("decision")}>
          <option value="">any</option>
          <option>ALLOW</option>
          <option>DENY</option>
          <option>ESCALATE</option>
        </select>
        <label for="filter-reason">Reason code</label>
        <input {...field("reason")} />
        <label for="filter-since">From</label>
        <input type="datetime-local" {...field("since")} />
        <label for="filter-until">To</label>
        <input type="datetime-local" {...field("until")} />
        <button type="submit">Apply filters</button>
      </form>
      <ErrorLine message={list.error} />
      <table aria-label="Audit log">
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Time</th>
            <th scope="col">Kind</th>
            <th scope="col">Agent</th>
            <th scope="col">Action</th>
            <th scope="col">Decision</th>
            <th scope="col">Reasons</th>
            <th scope="col">
              <span class="visually-hidden">Detail</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((r) => (
            <tr key={r.seq}>
              <td class="nowrap">{r.seq}</td>
              <td class="nowrap">
                <When at={r.timestamp} />
              </td>
              <td class="nowrap">{r.kind}</td>
              <ClippedCell text={r.agent_id} />
              <ClippedCell text={actionLabel(r)} />
              <td class="nowrap">{r.decision ?? NONE}</td>
              <td class="codes">{r.reasons.map((x) => x.code).join(", ")}</td>
              <td class="nowrap">
                <button type="button" aria-label={`Details of record ${r.seq}`} onClick={() => setSelected(r)}>
                  Details
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <LoadMore list={list} what="records" />
      {selected && <Detail record={selected} onClose={() => setSelected(undefined)} />}
    </section>
  );
}
