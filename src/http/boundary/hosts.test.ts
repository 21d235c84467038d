// The host rule of every door (./hosts.ts): which names a request may be sent to and which sites a browser's
// request may come from, by default and as GATEHOUSE_ALLOWED_HOSTS sets them.
import { describe, expect, it } from "vitest";
import { allowedHostsOf, allowedHostsProblem, hostRefusal, isLoopbackHost } from "./hosts";

const loopback = allowedHostsOf(undefined, "127.0.0.1");
const refusal = (host?: string, origin?: string, allowed = loopback) => hostRefusal(allowed, { host, origin })?.code;

describe("the default of a loopback listener (make run)", () => {
  it("answers the names a person on the machine types, any port, any case, with or without the trailing dot", () => {
    for (const host of ["127.0.0.1:8000", "localhost", "LocalHost.:9000", "[::1]:8000", "[0:0:0:0:0:0:0:1]"])
      expect(refusal(host), host).toBeUndefined();
  });

  it("refuses any other name: the rebound page's own, a LAN name, a malformed value", () => {
    for (const host of ["rebind.attacker.example:8000", "localhost.attacker.example", "evil.example", "", "a b"])
      expect(refusal(host), host).toBe("HOST_NOT_ALLOWED");
    // Credentials before the name would make a URL parser read `localhost`: the header is not a URL.
    expect(refusal("attacker.example@localhost")).toBe("HOST_NOT_ALLOWED");
    expect(refusal("localhost/x")).toBe("HOST_NOT_ALLOWED");
  });

  it("refuses a browser's request from a page elsewhere (Origin), the opaque `null` one included", () => {
    for (const origin of ["http://rebind.attacker.example:8000", "https://evil.example", "null", "file:///x", "junk"])
      expect(refusal("127.0.0.1:8000", origin), origin).toBe("ORIGIN_NOT_ALLOWED");
    for (const origin of ["http://127.0.0.1:8000", "http://localhost:3000", "http://[::1]:8000"])
      expect(refusal("127.0.0.1:8000", origin), origin).toBeUndefined();
  });

  it("lets through a request without Host (HTTP/1.0 health checks: no browser sends one) or without Origin", () => {
    expect(refusal(undefined, undefined)).toBeUndefined();
  });

  it("answers for its own loopback address too (HOST=127.0.0.2), and echoes no raw header in the detail", () => {
    expect(refusal("127.0.0.2:8000", undefined, allowedHostsOf(undefined, "127.0.0.2"))).toBeUndefined();
    const detail = hostRefusal(loopback, { host: `x@${"y".repeat(10_000)}` })?.detail;
    expect(detail).toBe("This gateway does not answer for the host (malformed) (GATEHOUSE_ALLOWED_HOSTS)");
    expect(hostRefusal(loopback, { host: `${"a".repeat(1000)}.example` })?.detail.length).toBeLessThan(400);
  });
});

describe("another listener (0.0.0.0 in the image, behind a load balancer)", () => {
  it("answers any name by default: the gateway cannot know the names it is reached by", () => {
    for (const host of ["0.0.0.0", "::", "192.168.1.20"]) {
      expect(isLoopbackHost(host), host).toBe(false);
      expect(refusal("gatehouse.example.com", "https://console.example.com", allowedHostsOf(undefined, host))).toBe(
        undefined,
      );
    }
    for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"])
      expect(isLoopbackHost(host), host).toBe(true);
  });
});

describe("GATEHOUSE_ALLOWED_HOSTS", () => {
  it("names the hosts (and *.suffix subdomains) answered, in place of the default, whatever the listener", () => {
    const set = allowedHostsOf("gatehouse.example.com, *.internal.example, ::1", "0.0.0.0");
    expect(refusal("GATEHOUSE.example.com:443", "https://gatehouse.example.com", set)).toBeUndefined();
    expect(refusal("node-a.internal.example", undefined, set)).toBeUndefined();
    expect(refusal("[::1]:8000", undefined, set)).toBeUndefined();
    expect(refusal("internal.example", undefined, set)).toBe("HOST_NOT_ALLOWED");
    expect(refusal("localhost", undefined, set)).toBe("HOST_NOT_ALLOWED");
    expect(refusal("gatehouse.example.com", "https://evil.example", set)).toBe("ORIGIN_NOT_ALLOWED");
  });

  it("`*` turns the check off, even on loopback", () => {
    expect(refusal("rebind.attacker.example", "http://rebind.attacker.example", allowedHostsOf("*", "127.0.0.1"))).toBe(
      undefined,
    );
  });

  it("refuses at start-up what is not a list of names: a port, a scheme, a path, `*` among names", () => {
    for (const ok of ["*", "a.example", "a.example, *.b.example", "::1", "[::1]", "10.0.0.1"])
      expect(allowedHostsProblem(ok), ok).toBeUndefined();
    for (const bad of ["localhost:8000", "http://a.example", "a.example/x", "*,a.example", "a,,b", "u@a.example"])
      expect(allowedHostsProblem(bad), bad).toMatch(/must/);
  });
});
