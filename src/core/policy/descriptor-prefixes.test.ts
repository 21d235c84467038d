// A blocklisted merchant leading a statement descriptor is hit when punctuation, not a space, follows its name
// (review R23d): `EVIL CORP.COM`, `EVIL CORP/BERLIN`, `EVIL CORP-ORDER 12`, `EVIL CORP:4411`, `EVIL CORP_12`. Whole
// words only: `NOTEVILCORP.COM` and `EVIL CORPORATION/BERLIN` name other parties.
import { describe, expect, it } from "vitest";
import { decide } from "./pipeline";
import { emailRequest, engine, ORG, supportBot } from "./test-fixtures";

async function decideDescriptor(blocklist: string[], descriptor: string) {
  const e = await engine();
  e.manifests.register(
    ORG,
    supportBot({
      capabilities: ["payment:wire"],
      constraints: {},
      policy: { counterparty_blocklist: blocklist },
      tools: { "payment:wire": { connector: { type: "noop" } } },
    }),
  );
  const params = { iban: "DE00", statement_descriptor: descriptor };
  const action = { type: "payment", tool: "wire", params };
  return (await decide(ORG, { ...emailRequest(), action } as never, e.deps, { now: e.now() })).decision;
}

describe("a descriptor led by a blocked name, punctuation after it", () => {
  it.each([
    [["Evil Corp"], "EVIL CORP.COM"],
    [["Evil Corp"], "EVIL CORP/BERLIN"],
    [["Evil Corp"], "EVIL CORP-ORDER 12"],
    [["Evil Corp"], "EVIL CORP:4411"],
    [["Evil Corp"], "EVIL CORP_12"],
    [["Evil Corp"], "EVIL-CORP.COM/DE"],
    [["evilcorp"], "EVILCORP.COM"],
    [["evilcorp"], "EVIL CORP*ORDER12"],
    [["evil*"], "EVILCORP/BERLIN"],
  ])("%j: %s is DENYed", async (blocklist, descriptor) => {
    expect(await decideDescriptor(blocklist, descriptor)).toBe("DENY");
  });

  it.each([
    [["Evil Corp"], "NOTEVIL CORP.COM"],
    [["Evil Corp"], "EVIL CORPORATION/BERLIN"],
    [["Evil Corp"], "EVIL CORP2.COM"],
    [["evilcorp"], "NOTEVILCORP.COM"],
    [["evilcorp"], "EVILCORPS:4411"],
    [["Evil Corp"], "GOOD CORP/EVIL CORP"],
  ])("%j: %s is ALLOWed", async (blocklist, descriptor) => {
    expect(await decideDescriptor(blocklist, descriptor)).toBe("ALLOW");
  });
});
