// A TCP port nothing listens on now, picked by the OS: for servers that cannot take port 0 and report the one they
// got (Prism, HAProxy's bind, a runtime started by a child process), so two test files never race for one port.
import { createServer } from "node:net";

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => ok(port));
    });
  });
}
