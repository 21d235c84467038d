// What a webhook receives, in the subscription's format: `gatehouse` (spec: WebhookEvent) or `slack` (an
// incoming-webhook message with Block Kit blocks and a button that opens the console at the approval).
import { type Approval, boundedRisk, requestOf } from "../approvals";
import { printable } from "../audit/printable";

export type WebhookEventType = "approval.created" | "approval.decided" | "approval.expired";
export type WebhookFormat = "gatehouse" | "slack";
export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = [
  "approval.created",
  "approval.decided",
  "approval.expired",
];

export interface EventContext {
  event_id: string;
  type: WebhookEventType;
  /** When the event was first sent (the same on every try, so the body and its signature stay comparable). */
  created_at: string;
  approval: Approval;
  /** The approval as the operator API shows it (rendered by the HTTP layer: core does not know wire models). */
  wireApproval: unknown;
  consoleUrl: string;
}

/** Where the console opens an approval: its hash route, so the link works with the static console as served. */
export function consoleLink(publicUrl: string, approvalId: string): string {
  return `${publicUrl.replace(/\/+$/, "")}/console#/approvals/${encodeURIComponent(approvalId)}`;
}

export function renderBody(format: WebhookFormat, event: EventContext): string {
  return JSON.stringify(format === "slack" ? slackMessage(event) : gatehouseEvent(event));
}

function gatehouseEvent(event: EventContext) {
  return {
    id: event.event_id,
    type: event.type,
    org_id: event.approval.org_id,
    created_at: event.created_at,
    approval: event.wireApproval,
    console_url: event.consoleUrl,
  };
}

/**
 * Slack's mrkdwn gives `<`, `>` and `&` meaning (links, @mentions): everything in an approval comes from an
 * agent, so it is escaped, and an agent cannot make the message ping a channel or carry a lookalike link.
 */
function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function headline(event: EventContext): string {
  const { approval } = event;
  if (event.type === "approval.created") return "Approval needed";
  if (event.type === "approval.expired") return "Approval expired";
  return approval.status === "approved" ? "Approval granted" : "Approval denied";
}

/** The facts the policy checked (amount, currency…) are kept in the approval's context, not in its action. */
function factsOf(approval: Approval): Record<string, unknown> {
  return approval.context && typeof approval.context === "object" ? (approval.context as Record<string, unknown>) : {};
}

/**
 * The amount the policy judged (the risk picture: the total the connector moves, e.g. 3 × 90 → 270), not the one
 * the agent declared, which may be one part of it; the declared one only on an approval without a risk picture.
 */
function amountOf(approval: Approval): string | undefined {
  const { amount, currency } = approval.risk ?? factsOf(approval);
  if (typeof amount !== "number") return undefined;
  return `${amount}${typeof currency === "string" ? ` ${currency}` : ""}`;
}

/** How many recipients a Slack message names, and in how many characters (a field holds at most 2,000). */
const SLACK_RECIPIENTS = 10;
const SLACK_RECIPIENT_CHARS = 1500;

/**
 * The recipients as the policy saw them (the risk picture, normalised and counted), the first few named and the
 * rest counted: an action may name thousands, and Slack refuses a field over 2,000 characters. Not re-read from
 * the stored params: the tool's redaction applies to them (an approval older than the risk picture names none).
 */
function recipientsLine(approval: Approval): string | undefined {
  if (!approval.risk) return undefined;
  const { recipients, recipients_total } = boundedRisk(approval.risk);
  if (recipients_total === 0) return undefined;
  const named: string[] = [];
  let chars = 0;
  for (const recipient of recipients.slice(0, SLACK_RECIPIENTS)) {
    chars += recipient.length + 2;
    if (chars > SLACK_RECIPIENT_CHARS) break;
    named.push(recipient);
  }
  const more = recipients_total - named.length;
  return `${named.join(", ")}${more > 0 ? ` and ${more} more (${recipients_total} in all)` : ""}`;
}

/**
 * When the policy could not read the params completely, the amount and recipients below may be missing some: said
 * first, above them, so that an operator does not take a short list for the whole action.
 */
function incompleteBlock(approval: Approval) {
  const why = approval.risk?.incomplete;
  if (!why) return [];
  const text = `:warning: *The params could not be read completely* (${escapeMrkdwn(why)}): the recipients and amounts shown may be missing some.`;
  return [{ type: "section", text: { type: "mrkdwn", text } }];
}

/** How many characters of the params' JSON a Slack message shows (a section's text holds at most 3,000). */
const SLACK_PARAMS_CHARS = 2000;

/**
 * One character of the params' JSON as it goes into a Slack code block. `&`, `<` and `>` are mrkdwn-escaped (a
 * code block still reads links and mentions); a backtick becomes the JSON escape `\u0060`, so that no param can
 * close the block (Slack has no other escape there) and the text stays the same JSON; control, format and
 * separator characters (a bidi override, a carriage return) are written as `\uXXXX` like the verifiers print them
 * (JSON.stringify already escapes C0 controls inside strings; a newline outside one is layout).
 */
function codeChar(c: string): string {
  if (c === "\n") return c;
  if (c === "`") return "\\u0060";
  return escapeMrkdwn(printable(c));
}

/**
 * The params the connector would receive, as the operator API shows them: the wire approval's, with the tool's
 * `redact` paths applied (never the stored ones, which keep redacted values in clear). Pretty JSON in a code
 * block, clipped to SLACK_PARAMS_CHARS characters of output with the rest counted.
 */
export function paramsBlock(wireApproval: unknown): { type: "section"; text: { type: "mrkdwn"; text: string } }[] {
  const action = (wireApproval as { action?: { params?: unknown } } | null | undefined)?.action;
  if (!action || typeof action !== "object" || !("params" in action)) return [];
  let json: string;
  try {
    json = JSON.stringify(action.params ?? {}, null, 2) ?? "{}";
  } catch {
    return [];
  }
  let shown = "";
  let read = 0;
  for (const c of json) {
    const out = codeChar(c);
    if (shown.length + out.length > SLACK_PARAMS_CHARS) break;
    shown += out;
    read += c.length;
  }
  const more = json.length - read;
  const clipped =
    more > 0 ? `\n… ${more.toLocaleString("en")} more characters (open the approval to see them all)` : "";
  return [{ type: "section", text: { type: "mrkdwn", text: `*Params*\n\`\`\`\n${shown}\n\`\`\`${clipped}` } }];
}

/** The person on whose behalf the agent asked (a verified token's subject), with the face they asked through. */
function requesterLine(approval: Approval): string | undefined {
  const request = requestOf(approval);
  if (!request) return undefined;
  const who = request.by.length > 256 ? `${request.by.slice(0, 256)}…` : request.by;
  return `${escapeMrkdwn(printable(who))} (${request.via === "mcp" ? "MCP session" : "IDE session"})`;
}

function reasonLines(approval: Approval): string {
  return approval.reasons
    .map((r) => r as { code?: unknown; message?: unknown })
    .map((r) => `• \`${escapeMrkdwn(String(r.code ?? "?"))}\` ${escapeMrkdwn(String(r.message ?? ""))}`)
    .join("\n");
}

function slackMessage(event: EventContext) {
  const { approval } = event;
  const capability = `${approval.action.type}:${approval.action.tool}`;
  const amount = amountOf(approval);
  const recipients = recipientsLine(approval);
  const title = headline(event);
  const requester = requesterLine(approval);
  const fields = [
    `*Agent*\n${escapeMrkdwn(approval.agent_id)}`,
    ...(requester ? [`*Requested by*\n${requester}`] : []),
    `*Action*\n\`${escapeMrkdwn(capability)}\``,
    ...(amount ? [`*Amount*\n${escapeMrkdwn(amount)}`] : []),
    ...(recipients ? [`*Recipients*\n${escapeMrkdwn(recipients)}`] : []),
  ];
  const decided =
    event.type === "approval.decided" && approval.decided_by
      ? `Decided by ${escapeMrkdwn(approval.decided_by)}${approval.decision_reason ? `: “${escapeMrkdwn(approval.decision_reason)}”` : ""}`
      : `Expires ${approval.expires_at}`;
  return {
    // The notification text (and what clients without blocks show).
    // Slack reads mrkdwn here too (it is also the push notification): escaped like the blocks.
    text: `${title}: ${escapeMrkdwn(capability)} by ${escapeMrkdwn(approval.agent_id)}${amount ? ` (${escapeMrkdwn(amount)})` : ""}`,
    blocks: [
      { type: "header", text: { type: "plain_text", text: title } },
      ...incompleteBlock(approval),
      { type: "section", fields: fields.map((text) => ({ type: "mrkdwn", text })) },
      ...paramsBlock(event.wireApproval),
      ...(approval.reasons.length
        ? [{ type: "section", text: { type: "mrkdwn", text: `*Why*\n${reasonLines(approval)}` } }]
        : []),
      {
        type: "actions",
        elements: [
          {
            type: "button",
            text: {
              type: "plain_text",
              text: event.type === "approval.created" ? "Review in Gatehouse" : "Open in Gatehouse",
            },
            url: event.consoleUrl,
            ...(event.type === "approval.created" ? { style: "primary" } : {}),
          },
        ],
      },
      {
        type: "context",
        elements: [{ type: "mrkdwn", text: `${escapeMrkdwn(approval.approval_id)} · ${decided}` }],
      },
    ],
  };
}
