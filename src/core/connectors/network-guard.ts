// SSRF guard for outbound tool calls: http(s) only, deny-by-default host allow list, and no private,
// loopback, link-local or otherwise special address unless the tool sets `allow_private: true`.
//
// Every address a name resolves to is checked (IPv4 and IPv6; an IPv6 address that carries an IPv4 one — mapped
// ::ffff:127.0.0.1, SIIT ::ffff:0:7f00:1, NAT64 64:ff9b::7f00:1, 6to4 2002:7f00:1::, ISATAP …:0:5efe:7f00:1 — is
// judged by that IPv4 address; Teredo 2001:0::/32 and IPv4-compatible ::a.b.c.d are refused outright). The check
// runs INSIDE the connection's own DNS lookup (`guardedLookup`, given to node:http(s) `request` as its `lookup`
// option), so the addresses that are checked are exactly the ones
// the socket connects to: a DNS server that answers a public address once and a private one the next time
// (DNS rebinding) cannot slip past, because there is no second resolution. Connections are never pooled
// across calls (http.ts uses `agent: false`), so every call resolves and checks afresh.
import { lookup as dnsLookup } from "node:dns/promises";
import type { LookupAddress } from "node:dns";
import { BlockList, isIP, type LookupFunction } from "node:net";

export type Lookup = (hostname: string) => Promise<{ address: string; family: number }[]>;

export const systemLookup: Lookup = (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

const blocked = new BlockList();
const BLOCKED_IPV4 = [
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
] as const;
for (const [network, prefix] of BLOCKED_IPV4) {
  blocked.addSubnet(network, prefix, "ipv4");
  // IPv6 forms that carry an IPv4 address and reach it: the well-known NAT64 prefix (64:ff9b::a.b.c.d, RFC 6052:
  // a NAT64 gateway on the path translates it to a.b.c.d) and 6to4 (2002:AABB:CCDD::, RFC 3056). They are judged
  // by the IPv4 address inside, like ::ffff:a.b.c.d.
  blocked.addSubnet(`64:ff9b::${ipv4AsHextets(network)}`, 96 + prefix, "ipv6");
  blocked.addSubnet(`2002:${ipv4AsHextets(network)}::`, 16 + prefix, "ipv6");
  // SIIT's IPv4-translated form (::ffff:0:a.b.c.d, RFC 2765): a stateless translator on the path maps it to
  // a.b.c.d. Node's BlockList judges ::ffff:a.b.c.d (mapped) by its IPv4 address itself, but not this one.
  blocked.addSubnet(`::ffff:0:${ipv4AsHextets(network)}`, 96 + prefix, "ipv6");
}
for (const [network, prefix] of [
  ["::", 96], // unspecified, loopback ::1 and IPv4-compatible ::a.b.c.d
  ["64:ff9b:1::", 48], // local-use NAT64
  ["100::", 64], // discard
  // Teredo (RFC 4380): server IPv4 in bits 32-63, client IPv4 XOR 0xffffffff in the last 32. Refused outright rather
  // than judged by the two addresses it carries: a host with a Teredo interface sends to it over UDP through the
  // client's NAT and the server, so either address could be reached, and the public Teredo service is shut down —
  // no tool needs a Teredo destination (allow_private still permits one).
  ["2001::", 32],
  ["2001:2::", 48], // benchmarking (like 198.18.0.0/15)
  ["2001:10::", 28], // ORCHID (deprecated), not routable
  ["2001:20::", 28], // ORCHIDv2, not routable
  ["2001:db8::", 32], // documentation
  ["3fff::", 20], // documentation (RFC 9637)
  ["5f00::", 16], // SRv6 segment identifiers (RFC 9602), not globally reachable
  ["fc00::", 7], // unique local
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8], // multicast
] as const) {
  blocked.addSubnet(network, prefix, "ipv6");
}

/** `a.b.c.d` as the two IPv6 groups that hold it (`127.0.0.0` → `7f00:0`). */
function ipv4AsHextets(address: string): string {
  const [a = 0, b = 0, c = 0, d = 0] = address.split(".").map(Number);
  return `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** True for addresses a tool may not reach without `allow_private` (IPv4-mapped IPv6 included). */
export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return true; // not an address at all: refuse rather than guess
  if (blocked.check(address, family === 4 ? "ipv4" : "ipv6")) return true;
  const isatap = family === 6 ? isatapIPv4(address) : undefined;
  return isatap !== undefined && blocked.check(isatap, "ipv4");
}

/**
 * The IPv4 address of an ISATAP address (RFC 5214): any /64 prefix, then the interface id 0000:5efe (0200:5efe
 * when the IPv4 address is global; the u/g bits may be set) and the IPv4 address. A host on an ISATAP link sends
 * to it over IPv4, straight to that address. A suffix, so it is not a BlockList subnet.
 */
function isatapIPv4(address: string): string | undefined {
  const groups = hextetsOf(address) ?? [];
  if (groups[5] !== 0x5efe || ((groups[4] ?? 0) & 0xfcff) !== 0) return undefined;
  const [high = 0, low = 0] = groups.slice(6);
  return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
}

/**
 * The eight 16-bit groups of an IPv6 address, from the URL parser's canonical form (a dotted IPv4 tail becomes
 * two hex groups, `::` stays the only shorthand); undefined when it does not parse there (a zone id).
 */
function hextetsOf(address: string): number[] | undefined {
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
  const [head = "", tail] = canonical.split("::");
  const groups = (part: string | undefined) => (part ? part.split(":").map((group) => Number.parseInt(group, 16)) : []);
  const before = groups(head);
  const after = groups(tail);
  return [...before, ...new Array<number>(8 - before.length - after.length).fill(0), ...after];
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

/**
 * What can be judged from the URL alone: scheme, credentials, the host allow list, and an IP-literal host
 * (no DNS lookup happens for those, so it is checked here). Names are checked when they are resolved for the
 * connection, by `guardedLookup`.
 */
export function checkUrl(url: URL, options: { allowedHosts: readonly string[]; allowPrivate: boolean }): GuardVerdict {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { ok: false, code: "URL_NOT_ALLOWED", message: `Only http and https URLs are allowed, not ${url.protocol}` };
  }
  if (url.username || url.password) {
    return {
      ok: false,
      code: "URL_NOT_ALLOWED",
      message: "URLs with credentials are not allowed; use a secret header",
    };
  }
  const hostname = bareHostname(url);
  if (!hostAllowed(hostname, options.allowedHosts)) {
    return { ok: false, code: "HOST_NOT_ALLOWED", message: `Host ${hostname} is not in this tool's allowed_hosts` };
  }
  if (!options.allowPrivate && isIP(hostname) && isPrivateAddress(hostname))
    return blockedVerdict(hostname, [hostname]);
  return { ok: true };
}

/** `url.hostname` without the brackets of an IPv6 literal. */
export function bareHostname(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, "");
}

/** The error a guarded lookup fails the connection with; `code` is the connector's failure code. */
export class DestinationRefused extends Error {
  constructor(
    readonly code: "ADDRESS_BLOCKED" | "DNS_FAILED",
    message: string,
  ) {
    super(message);
    this.name = "DestinationRefused";
  }
}

/**
 * A `lookup` for node:net / node:http(s) `request` that resolves with `lookup` and refuses the connection
 * (DestinationRefused) when any address is private, loopback or reserved, unless `allowPrivate`. It answers
 * in both shapes net asks for: one address, or all of them (`all: true`, used by Happy Eyeballs).
 */
export interface GuardOptions {
  lookup: Lookup;
  allowPrivate: boolean;
  /** Which resolved addresses are refused (default: private, loopback, link-local, reserved). Tests narrow it. */
  isBlocked?: ((address: string) => boolean) | undefined;
}

export function guardedLookup(options: GuardOptions): LookupFunction {
  return (hostname, lookupOptions, callback) => {
    resolveChecked(hostname, options).then(
      (addresses) => {
        const family = { IPv4: 4, IPv6: 6 }[String(lookupOptions.family)] ?? Number(lookupOptions.family ?? 0);
        const wanted = family ? addresses.filter((a) => a.family === family) : addresses;
        const [first] = wanted;
        if (!first) {
          return callback(new DestinationRefused("DNS_FAILED", `${hostname} has no IPv${family} address`), "");
        }
        if (lookupOptions.all) callback(null, wanted);
        else callback(null, first.address, first.family);
      },
      (err: Error) => callback(err, ""),
    );
  };
}

async function resolveChecked(hostname: string, options: GuardOptions): Promise<LookupAddress[]> {
  let addresses: LookupAddress[];
  try {
    addresses = (await options.lookup(hostname)).map(({ address, family }) => ({
      address,
      family: family || isIP(address),
    }));
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new DestinationRefused("DNS_FAILED", `Cannot resolve ${hostname}: ${reason}`);
  }
  if (addresses.length === 0) throw new DestinationRefused("DNS_FAILED", `${hostname} has no address`);
  if (!options.allowPrivate) {
    const forbidden = addresses.map((a) => a.address).filter(options.isBlocked ?? isPrivateAddress);
    if (forbidden.length) {
      const verdict = blockedVerdict(hostname, forbidden);
      throw new DestinationRefused("ADDRESS_BLOCKED", verdict.message);
    }
  }
  return addresses;
}

function blockedVerdict(
  hostname: string,
  forbidden: string[],
): { ok: false; code: "ADDRESS_BLOCKED"; message: string } {
  return {
    ok: false,
    code: "ADDRESS_BLOCKED",
    message: `${hostname} resolves to a private, loopback or reserved address (${forbidden.join(", ")}); set allow_private on this tool to permit it`,
  };
}
