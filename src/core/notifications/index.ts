// Approval notifications: signed webhooks (JSON or Slack-compatible) with retries and a delivery log.
export { webhookConfigFromEnv, type WebhookConfig } from "./config";
export { backoffMs, createWebhookNotifier, DEFAULT_RETRY, type RetryPolicy, type WebhookNotifier } from "./notifier";
export { consoleLink, WEBHOOK_EVENT_TYPES, type WebhookEventType, type WebhookFormat } from "./payloads";
export { DEFAULT_TOLERANCE_SECONDS, SIGNATURE_HEADER, signatureHeader, verifySignature } from "./signature";
export { checkTarget, type TargetPolicy } from "./target-guard";
export {
  createWebhookStore,
  ENV_DEFAULT_WEBHOOK_ID,
  type Webhook,
  type WebhookDelivery,
  type WebhookStore,
} from "./webhook-store";
