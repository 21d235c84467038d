// A TCP proxy in front of the test's PostgreSQL that a test cuts and restores: an outage of the database as a node
// sees it (its connections reset, new ones refused) without touching the shared server. Listens on
// the first free port from GATEHOUSE_TEST_PROXY_PORT when set (a port range of one's own: tests in parallel take the
// next ones), else on any free port.
import net from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** Resets every open connection and refuses new ones until `restore`. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function tcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let down = false;
  const server = net.createServer((client) => {
    if (down) return void client.resetAndDestroy();
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await listenFrom(server, Number(process.env.GATEHOUSE_TEST_PROXY_PORT ?? 0));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      down = true;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    restore() {
      down = false;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((closed) => server.close(() => closed()));
    },
  };
}

/** Listens on `first`, or the next free port after it (50 tried); any free port when `first` is 0. */
async function listenFrom(server: net.Server, first: number): Promise<void> {
  for (let port = first; ; port++) {
    const listened = await new Promise<boolean>((done, fail) => {
      const busy = (err: NodeJS.ErrnoException) =>
        err.code === "EADDRINUSE" && first !== 0 && port - first < 49 ? done(false) : fail(err);
      server.once("error", busy);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", busy);
        done(true);
      });
    });
    if (listened) return;
  }
}
