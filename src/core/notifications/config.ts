// Environment of approval notifications (all optional; listed in src/config.ts CONFIG_VARIABLES):
//   GATEHOUSE_WEBHOOK_URL            the default org's subscription to every approval event (unset: none)
//   GATEHOUSE_WEBHOOK_SECRET         its signing secret (≥ 32 characters; required with the URL)
//   GATEHOUSE_WEBHOOK_FORMAT         gatehouse (default) | slack
//   GATEHOUSE_WEBHOOK_PRIVATE_HOSTS  hostnames whose targets may be private or loopback (tests, local bridges)
//   GATEHOUSE_WEBHOOK_MAX_ATTEMPTS   tries per delivery, first included (default 8)
//   GATEHOUSE_WEBHOOK_RETRY_BASE_MS  delay before the second try, doubled each time (default 5000; ≤ 1 h per delay)
//   GATEHOUSE_WEBHOOKS_PER_ORG       subscriptions an org may create through the API (default 20, ≤ 1000)
//   GATEHOUSE_PUBLIC_URL             this gateway's public base URL, for console links (default: its listen URL)
import { DEFAULT_RETRY, type RetryPolicy } from "./notifier";
import type { WebhookFormat } from "./payloads";
import { checkTarget } from "./target-guard";

export interface WebhookConfig {
  envDefault?: { url: string; format: WebhookFormat; secret: string };
  privateHosts: string[];
  retry: RetryPolicy;
  publicUrl?: string;
  /**
   * Subscriptions per org through the API. Every approval event is sent to each of them: without a bound, one
   * operator token could turn each escalation into thousands of outgoing requests (and as many log rows).
   */
  maxPerOrg: number;
}

export const DEFAULT_WEBHOOKS_PER_ORG = 20;

type Env = Record<string, string | undefined>;

function positive(env: Env, name: string, fallback: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1 || Number(raw) > max)
    throw new Error(`${name} must be an integer between 1 and ${max}, got '${raw}'`);
  return Number(raw);
}

export function webhookConfigFromEnv(env: Env): WebhookConfig {
  const privateHosts = (env.GATEHOUSE_WEBHOOK_PRIVATE_HOSTS ?? "")
    .split(",")
    .map((h) => h.trim().replace(/^\[|\]$/g, ""))
    .filter((h) => h !== "");
  const retry: RetryPolicy = {
    ...DEFAULT_RETRY,
    maxAttempts: positive(env, "GATEHOUSE_WEBHOOK_MAX_ATTEMPTS", DEFAULT_RETRY.maxAttempts, 20),
    baseDelayMs: positive(env, "GATEHOUSE_WEBHOOK_RETRY_BASE_MS", DEFAULT_RETRY.baseDelayMs, 3_600_000),
  };
  const maxPerOrg = positive(env, "GATEHOUSE_WEBHOOKS_PER_ORG", DEFAULT_WEBHOOKS_PER_ORG, 1000);
  const config: WebhookConfig = { privateHosts, retry, maxPerOrg };
  const publicUrl = env.GATEHOUSE_PUBLIC_URL;
  if (publicUrl) {
    if (!/^https?:\/\/[^/]+/.test(publicUrl)) throw new Error(`GATEHOUSE_PUBLIC_URL must be an http(s) URL`);
    config.publicUrl = publicUrl.replace(/\/+$/, "");
  }
  const url = env.GATEHOUSE_WEBHOOK_URL;
  if (!url) return config;
  const target = checkTarget(url, { privateHosts });
  if (!target.ok) throw new Error(`GATEHOUSE_WEBHOOK_URL is refused: ${target.message}`);
  const secret = env.GATEHOUSE_WEBHOOK_SECRET ?? "";
  if (secret.length < 32)
    throw new Error("GATEHOUSE_WEBHOOK_SECRET must be set (at least 32 characters) with GATEHOUSE_WEBHOOK_URL");
  const format = env.GATEHOUSE_WEBHOOK_FORMAT || "gatehouse";
  if (format !== "gatehouse" && format !== "slack")
    throw new Error(`GATEHOUSE_WEBHOOK_FORMAT must be gatehouse or slack, got '${format}'`);
  return { ...config, envDefault: { url, format, secret } };
}
