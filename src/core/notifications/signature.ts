// The `Gatehouse-Signature` header of webhook deliveries: `t=<unix seconds>,v1=<hex HMAC-SHA256>` over
// `${t}.${body}` under the subscription's secret (the scheme Stripe and Slack use). The timestamp is inside
// the signed text, so a receiver that refuses old `t` values also refuses a replayed delivery.
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "Gatehouse-Signature";

/** How far from now a receiver accepts `t` by default (5 minutes, like Stripe). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

function hmacHex(secret: string, timestamp: number, body: string): string {
  return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

export function signatureHeader(secret: string, body: string, at: Date = new Date()): string {
  const t = Math.floor(at.getTime() / 1000);
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

export type SignatureCheck = { ok: true; timestamp: number } | { ok: false; reason: string };

/**
 * What a receiver does (the README's snippet is this function): parse the header, refuse a timestamp outside
 * the tolerance, recompute the HMAC over the raw body and compare in constant time with every `v1` given.
 */
export function verifySignature(
  secret: string,
  header: string | undefined,
  body: string,
  options: { now?: Date; toleranceSeconds?: number } = {},
): SignatureCheck {
  if (!header) return { ok: false, reason: "no signature header" };
  const parts = header.split(",").map((p) => p.trim().split("=", 2) as [string, string | undefined]);
  const t = Number(parts.find(([k]) => k === "t")?.[1]);
  const given = parts.filter(([k, v]) => k === "v1" && v).map(([, v]) => v as string);
  if (!Number.isInteger(t) || given.length === 0) return { ok: false, reason: "malformed signature header" };
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - t) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS))
    return { ok: false, reason: "timestamp outside the tolerance" };
  const expected = Buffer.from(hmacHex(secret, t, body), "hex");
  const matches = given.some((hex) => {
    const candidate = Buffer.from(hex, "hex");
    return candidate.length === expected.length && timingSafeEqual(candidate, expected);
  });
  return matches ? { ok: true, timestamp: t } : { ok: false, reason: "signature mismatch" };
}
