// The set-up most session test files share: one identity provider for the file, and the gateways and IDE sockets
// each test started, closed after it. Registers the file's hooks; call it once at the top level of the test file.
// (./redis-fixture.ts adds a Redis client and a key prefix of the file's own on top of it.)
import { afterAll, afterEach, beforeAll } from "vitest";
import { openIde, startGateway, startIdp, type IdeClient, type TestGateway, type TestIdp } from "./test-support";

export type GatewayOverrides = Parameters<typeof startGateway>[1];
export type IdeOptions = Parameters<typeof openIde>[1];

export interface SessionsFixture {
  readonly idp: TestIdp;
  /** Gateways started by the current test: closed after it. */
  readonly running: TestGateway[];
  /** IDE sockets opened by the current test: terminated after it. */
  readonly clients: IdeClient[];
  /** A gateway on the file's identity provider, closed after the test. */
  gateway(overrides?: GatewayOverrides): Promise<TestGateway>;
  /** An IDE socket on `/ws/{sessionId}` of `g`, terminated after the test. */
  ide(g: TestGateway, sessionId: string, options?: IdeOptions): Promise<IdeClient>;
}

export function sessionsFixture(): SessionsFixture {
  let idp: TestIdp | undefined;
  const running: TestGateway[] = [];
  const clients: IdeClient[] = [];

  beforeAll(async () => {
    idp = await startIdp();
  });
  afterAll(async () => {
    await idp?.close();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.ws.terminate();
    for (const g of running.splice(0)) await g.close();
  });

  const fixture: SessionsFixture = {
    get idp() {
      if (!idp) throw new Error("the fixture's identity provider starts in beforeAll");
      return idp;
    },
    running,
    clients,
    async gateway(overrides = {}) {
      const g = await startGateway(fixture.idp, overrides);
      running.push(g);
      return g;
    },
    async ide(g, sessionId, options = {}) {
      const c = await openIde(`${g.wsBase}/ws/${sessionId}`, options);
      clients.push(c);
      return c;
    },
  };
  return fixture;
}
