// Approvals: pending first, kept current by the server's live feed (no polling from the browser); Approve or
// Deny with an optional reason; decided ones with who, when and why.
import { useEffect, useRef, useState } from "preact/hooks";
import { describeProblem, followApprovals, type Approval, type Session } from "../api";
import { ErrorLine, LoadMore, PAGE_SIZE, Status, When } from "./common";
import { ParamsBlock, requesterText } from "./params";

/**
 * The recipients the connector will receive: the policy's risk picture (every recipient it found anywhere in the
 * params, counted), not what the agent declared, which may name someone else. The declared ones only for an
 * approval without a picture (older than it).
 */
function recipientsOf(approval: Approval): string {
  const risk = approval.risk;
  if (risk) {
    const more = risk.recipients_total - risk.recipients.length;
    return `${risk.recipients.join(", ") || "none found"}${more > 0 ? ` +${more} more` : ""}`;
  }
  const params = approval.action.params as Record<string, unknown>;
  const found = ["to", "cc", "bcc"].flatMap((key) => {
    const value = params[key];
    return Array.isArray(value) ? value.map(String) : typeof value === "string" ? [value] : [];
  });
  if (approval.action.counterparty) found.push(approval.action.counterparty);
  return [...new Set(found)].join(", ") || "—";
}

/** The amount the policy judged (the total the connector moves), else the declared one (same fallback). */
function amountOf(approval: Approval): string {
  const { amount, currency } = approval.risk ?? approval.action;
  return amount === undefined ? "—" : `${amount}${currency ? ` ${currency}` : ""}`;
}

/** The risk snapshot taken when the approval was asked for: what escalated it and how much budget was used. */
function RiskSnapshot({ approval }: { approval: Approval }) {
  const risk = approval.risk;
  if (!risk) return <span>—</span>;
  const budget = risk.budget;
  return (
    <ul class="risk" aria-label="Risk snapshot">
      <li>
        Reason codes: <code>{risk.reason_codes.join(", ") || "—"}</code>
      </li>
      {risk.amount !== undefined && (
        <li>
          Amount: {risk.amount}
          {risk.currency ? ` ${risk.currency}` : ""}
        </li>
      )}
      <li>
        Recipients: {risk.recipients.join(", ") || "none"}
        {risk.recipients_truncated
          ? ` and ${risk.recipients_total - risk.recipients.length} more (${risk.recipients_total} in all)`
          : ""}
      </li>
      {budget && (
        <li>
          Budget used: {budget.budget_current}/{budget.budget_limit} this hour ({budget.budget_percent}%)
        </li>
      )}
    </ul>
  );
}

function Decide({
  session,
  approval,
  onDone,
}: {
  session: Session;
  approval: Approval;
  onDone: (a: Approval) => void;
}) {
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const decide = async (verdict: "approve" | "deny") => {
    setBusy(true);
    setError(undefined);
    const path =
      verdict === "approve"
        ? "/api/v1/orgs/{org_id}/approvals/{approval_id}/approve"
        : "/api/v1/orgs/{org_id}/approvals/{approval_id}/deny";
    const { data, error, response } = await session.client.POST(path, {
      params: { path: { org_id: session.org, approval_id: approval.approval_id } },
      body: reason.trim() ? { reason: reason.trim() } : {},
    });
    setBusy(false);
    if (data) onDone(data);
    else setError(describeProblem(error, response.status));
  };
  const reasonId = `reason-${approval.approval_id}`;
  return (
    <div class="decide">
      <label for={reasonId}>Reason (optional)</label>
      <input id={reasonId} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      <button type="button" class="approve" disabled={busy} onClick={() => decide("approve")}>
        Approve
      </button>
      <button type="button" class="deny" disabled={busy} onClick={() => decide("deny")}>
        Deny
      </button>
      <ErrorLine message={error} />
    </div>
  );
}

function ApprovalCard({
  session,
  approval,
  onChange,
  focused = false,
}: {
  session: Session;
  approval: Approval;
  onChange: (a: Approval) => void;
  /** Opened through a link to it (#/approvals/<id>, e.g. from a notification). */
  focused?: boolean;
}) {
  const pending = approval.status === "pending";
  const ref = useRef<HTMLElement>(null);
  useEffect(() => {
    if (!focused) return;
    ref.current?.scrollIntoView({ block: "center" });
    ref.current?.focus();
  }, [focused]);
  return (
    <article
      ref={ref}
      tabIndex={focused ? -1 : undefined}
      aria-current={focused ? "true" : undefined}
      class={`approval ${approval.status}${focused ? " focused" : ""}`}
      aria-label={`Approval ${approval.approval_id} for ${approval.agent_id}`}
    >
      <h3>
        {approval.action.type}:{approval.action.tool} <span class="badge">{approval.status}</span>
      </h3>
      {approval.risk?.incomplete && (
        // Above the headline rows it qualifies: they may be missing a recipient or an amount the policy never saw.
        <p class="warning" role="note" aria-label="Incomplete risk picture">
          ⚠ The params could not be read completely ({approval.risk.incomplete}): the recipients and amounts shown may
          be missing some.
        </p>
      )}
      <dl>
        <dt>Agent</dt>
        <dd>{approval.agent_id}</dd>
        <dt>Requested by</dt>
        <dd>{requesterText(approval)}</dd>
        <dt>Action</dt>
        <dd>
          {approval.action.type} / {approval.action.tool}
        </dd>
        <dt>Recipients</dt>
        <dd>{recipientsOf(approval)}</dd>
        <dt>Amount</dt>
        <dd>{amountOf(approval)}</dd>
        <dt>Params</dt>
        <dd>
          <ParamsBlock approval={approval} />
        </dd>
        <dt>Risk</dt>
        <dd>
          <RiskSnapshot approval={approval} />
        </dd>
        <dt>Why</dt>
        <dd>
          <ul class="reasons">
            {approval.reasons.map((r) => (
              <li key={r.code}>
                <code>{r.code}</code> {r.message}
              </li>
            ))}
          </ul>
        </dd>
        <dt>Requested at</dt>
        <dd>
          <When at={approval.created_at} />
        </dd>
        <dt>Expires</dt>
        <dd>
          <When at={approval.expires_at} />
        </dd>
        {!pending && approval.decided_by && (
          <>
            <dt>Decided</dt>
            <dd>
              by {approval.decided_by} at <When at={approval.decided_at} />
              {approval.reason ? ` — “${approval.reason}”` : ""}
            </dd>
          </>
        )}
      </dl>
      {pending && <Decide session={session} approval={approval} onDone={onChange} />}
    </article>
  );
}

const byNewest = (a: Approval, b: Approval) => b.created_at.localeCompare(a.created_at);

/** How far along its lifecycle an approval is: pending → approved → consumed; denied, expired, cancelled end it. */
const stage = (approval: Approval): number =>
  approval.status === "pending" ? 0 : approval.status === "approved" ? 1 : 2;

/**
 * The copy of an approval to show when a read brings `next` while `shown` is on screen. An approval never goes back
 * along its lifecycle, so a copy behind the shown one is an older read (a list read when the feed connected,
 * answered after the feed or the Decide button brought the decision): the shown one stays.
 */
const fresher = (shown: Approval | undefined, next: Approval): Approval =>
  shown && stage(shown) > stage(next) ? shown : next;

export function ApprovalsView({ session, focus }: { session: Session; focus?: string }) {
  const [items, setItems] = useState<Map<string, Approval>>(new Map());
  const [feed, setFeed] = useState<"connecting" | "live" | "reconnecting">("connecting");
  const [error, setError] = useState<string>();
  const [next, setNext] = useState<string>();
  const [busy, setBusy] = useState(false);
  // Read by the feed's reload, which outlives the render that set it up.
  const focusRef = useRef(focus);
  focusRef.current = focus;
  const upsert = (approval: Approval) =>
    setItems((old) => new Map(old).set(approval.approval_id, fresher(old.get(approval.approval_id), approval)));

  /** The first page replaces what is shown (kept: a linked approval); a later page (`cursor`) is added to it. */
  const readPage = async (cursor?: string) => {
    setBusy(true);
    const { data, error, response } = await session.client.GET("/api/v1/orgs/{org_id}/approvals", {
      params: { path: { org_id: session.org }, query: { limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) } },
    });
    setBusy(false);
    if (!data) return setError(describeProblem(error, response.status));
    setError(undefined);
    setItems((old) => {
      const kept = cursor ? new Map(old) : new Map([...old].filter(([id]) => id === focusRef.current));
      for (const a of data.items) kept.set(a.approval_id, fresher(old.get(a.approval_id), a));
      return kept;
    });
    setNext(data.next_cursor);
  };

  useEffect(() => {
    // The list is (re)loaded each time the feed is (re)connected, so nothing between the two is missed.
    return followApprovals(session, { onReady: () => void readPage(), onApproval: upsert, onState: setFeed });
  }, [session]);

  // A linked approval older than the loaded page is fetched on its own.
  useEffect(() => {
    if (!focus) return;
    void (async () => {
      const { data, error, response } = await session.client.GET("/api/v1/orgs/{org_id}/approvals/{approval_id}", {
        params: { path: { org_id: session.org, approval_id: focus } },
      });
      if (data) upsert(data);
      else setError(`Approval ${focus}: ${describeProblem(error, response.status)}`);
    })();
  }, [session, focus]);

  const all = [...items.values()].sort(byNewest);
  const pending = all.filter((a) => a.status === "pending");
  const decided = all.filter((a) => a.status !== "pending");
  return (
    <section aria-labelledby="approvals-title">
      <h2 id="approvals-title">Approvals</h2>
      <Status>
        {feed === "live"
          ? "Live: new approvals appear here as they arrive."
          : feed === "connecting"
            ? "Connecting to the live feed…"
            : "Live feed interrupted; reconnecting…"}
      </Status>
      <ErrorLine message={error} />
      <section aria-labelledby="pending-title">
        <h3 id="pending-title">Pending ({pending.length})</h3>
        {pending.length === 0 ? (
          <p>No approval is waiting.</p>
        ) : (
          pending.map((a) => (
            <ApprovalCard
              key={a.approval_id}
              session={session}
              approval={a}
              onChange={upsert}
              focused={a.approval_id === focus}
            />
          ))
        )}
      </section>
      <section aria-labelledby="decided-title">
        <h3 id="decided-title">Decided ({decided.length})</h3>
        {decided.map((a) => (
          <ApprovalCard
            key={a.approval_id}
            session={session}
            approval={a}
            onChange={upsert}
            focused={a.approval_id === focus}
          />
        ))}
      </section>
      <LoadMore list={{ next, busy, more: () => readPage(next) }} what="approvals" />
    </section>
  );
}
