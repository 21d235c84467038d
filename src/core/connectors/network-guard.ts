// SSRF guard for outbound tool calls: http(s) only, deny-by-default host allow list, and no private,
// loopback, link-local or otherwise special address unless the tool sets `allow_private: true`.
//
// Every address the name resolves to is checked (IPv4 and IPv6; IPv4-mapped IPv6 such as ::ffff:127.0.0.1 is
// judged by its IPv4 address). Residual risk: fetch resolves the name again when it connects, so a DNS server
// that answers differently the second time (rebinding) is not stopped here. Pinning the checked address needs
// an undici Agent with a `connect.lookup` hook (the `undici` package), which this project does not ship yet.
import { lookup as dnsLookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

export type Lookup = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemLookup: Lookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

const blocked = new BlockList();
for (const [network, prefix] of [
  ["0.0.0.0", 8], // "this network"
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local (cloud metadata at 169.254.169.254)
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.88.99.0", 24], // 6to4 relay anycast
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved + broadcast
] as const) {
  blocked.addSubnet(network, prefix, "ipv4");
}
for (const [network, prefix] of [
  ["::", 96], // unspecified, loopback ::1 and IPv4-compatible ::a.b.c.d
  ["64:ff9b:1::", 48], // local-use NAT64
  ["100::", 64], // discard
  ["2001:db8::", 32], // documentation
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8], // multicast
] as const) {
  blocked.addSubnet(network, prefix, "ipv6");
}

/** True for addresses a tool may not reach without `allow_private` (IPv4-mapped IPv6 included). */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true; // not an address at all: refuse rather than guess
  return blocked.check(address, family === 4 ? "ipv4" : "ipv6");
}

/** `api.example.com` matches itself; `*.example.com` matches any subdomain (not the bare domain). */
export function hostAllowed(hostname: string, allowList: readonly string[]): boolean {
  const host = hostname.toLowerCase();
  return allowList.some((entry) => {
    const pattern = entry.toLowerCase().replace(/^\[|\]$/g, "");
    if (pattern.startsWith("*.")) return host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1;
    return host === pattern;
  });
}

export type GuardVerdict = { ok: true } | { ok: false; code: string; message: string };

export async function checkDestination(
  url: URL,
  options: { allowedHosts: readonly string[]; allowPrivate: boolean; lookup: Lookup },
): Promise<GuardVerdict> {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, code: "URL_NOT_ALLOWED", message: `Only http and https URLs are allowed, not ${url.protocol}` };
  }
  if (url.username || url.password) {
    return { ok: false, code: "URL_NOT_ALLOWED", message: "URLs with credentials are not allowed; use a secret header" };
  }
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  if (!hostAllowed(hostname, options.allowedHosts)) {
    return { ok: false, code: "HOST_NOT_ALLOWED", message: `Host ${hostname} is not in this tool's allowed_hosts` };
  }
  if (options.allowPrivate) return { ok: true };

  let addresses: string[];
  if (isIP(hostname)) {
    addresses = [hostname];
  } else {
    try {
      addresses = (await options.lookup(hostname)).map((entry) => entry.address);
    } catch (err) {
      return { ok: false, code: "DNS_FAILED", message: `Cannot resolve ${hostname}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
  }
  if (addresses.length === 0) return { ok: false, code: "DNS_FAILED", message: `${hostname} has no address` };
  const forbidden = addresses.filter(isPrivateAddress);
  if (forbidden.length) {
    return {
      ok: false,
      code: "ADDRESS_BLOCKED",
      message: `${hostname} resolves to a private, loopback or reserved address (${forbidden.join(", ")}); set allow_private on this tool to permit it`,
    };
  }
  return { ok: true };
}
