// Webhook targets through the connectors' SSRF guard (../connectors/network-guard.ts): an operator chooses the
// URL, so a subscription must not become a way to reach the cloud metadata service or an internal admin port.
// http(s) only, no credentials in the URL, and no private, loopback, link-local or reserved address — checked
// on the URL now (IP literals) and on every resolution at delivery time (names, DNS rebinding). Hosts listed in
// GATEHOUSE_WEBHOOK_PRIVATE_HOSTS are exempt from the address check (a receiver on 127.0.0.1 in tests, a
// chat bridge on the private network); nothing else is.
import { bareHostname, checkUrl } from "../connectors/network-guard";
import { isIP } from "node:net";

export interface TargetPolicy {
  /** Hostnames (as written in the URL) allowed to resolve to private or loopback addresses. */
  privateHosts: readonly string[];
}

export type TargetVerdict = { ok: true; url: URL; allowPrivate: boolean } | { ok: false; message: string };

const SUFFIX = "webhook targets must be public (or listed in GATEHOUSE_WEBHOOK_PRIVATE_HOSTS)";

export function checkTarget(raw: string, policy: TargetPolicy): TargetVerdict {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, message: `'${raw}' is not an absolute URL` };
  }
  const hostname = bareHostname(url);
  const allowPrivate = policy.privateHosts.some((h) => h.toLowerCase() === hostname.toLowerCase());
  // Any host may be a target: the allow list of connectors is per tool; here the address check is the fence.
  const verdict = checkUrl(url, { allowedHosts: [hostname], allowPrivate });
  if (!verdict.ok) {
    const message =
      verdict.code === "ADDRESS_BLOCKED" ? verdict.message.replace(/; set allow_private.*$/, "") : verdict.message;
    return { ok: false, message: verdict.code === "ADDRESS_BLOCKED" ? `${message}; ${SUFFIX}` : message };
  }
  // `localhost` and friends resolve to loopback: refuse the obvious names now rather than at the first delivery.
  // A name may end in the root's dot (`localhost.` is localhost): it is stripped before the name is judged.
  const name = hostname.replace(/\.$/, "");
  if (!allowPrivate && !isIP(name) && /^(localhost|.*\.localhost|.*\.local|.*\.internal)$/i.test(name))
    return { ok: false, message: `${hostname} names a local or internal host; ${SUFFIX}` };
  return { ok: true, url, allowPrivate };
}
