// Recipients as an agent may spell them to reach a blocked counterparty, sent as raw JSON over HTTP to a webhook
// tool, in every place of the params a recipient can hide. A blocked counterparty is never ALLOWed, and whenever
// Gatehouse ALLOWs, the webhook received only what the policy judged. On both store backends.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatehouseBackends, gatehouseOn } from "../../../test-support/backends";
import { API_KEY } from "../../../test-support/gatehouse";
import { startReceiver, type Receiver } from "../../../test-support/http";

const UAPK = "mailer-bot";

/** Spellings of a recipient at evil.com or strasse.de (both blocked), as JSON string literals. */
const SPELLINGS: [string, string][] = [
  ["plain", `"boss@evil.com"`],
  ["mixed case and trailing dots", `"Boss@EVIL.com.."`],
  ["full-width @ and letters", `"boss\uff20\uff45\uff56\uff49\uff4c.com"`],
  ["small commercial at", `"boss\ufe6bevil.com"`],
  ["ideographic full stop", `"boss@evil\u3002com"`],
  ["a Cyrillic look-alike letter", `"boss@\u0435vil.com"`],
  ["a display name", `"Ann <boss@evil.com>"`],
  ["a quoted local part", `"\\"ok@acme.com\\"@evil.com"`],
  ["a comment in the domain", `"boss@(x)evil.com"`],
  ["a NUL separator", `"ok@acme.com\\u0000boss@evil.com"`],
  ["a newline separator", `"ok@acme.com\\nboss@evil.com"`],
  ["a semicolon", `"ok@acme.com;boss@evil.com"`],
  ["a percent-encoded @", `"boss%40evil.com"`],
  ["ß, which IDNA2003 reads as ss", `"boss@stra\u00dfe.de"`],
  ["full-width ß domain", `"boss@\uff53\uff54\uff52\uff41\u00df\uff45.de"`],
];

/** Where the recipient goes in the params. */
const PLACES: [string, (r: string) => string][] = [
  ["to", (r) => `{"to":${r}}`],
  ["nested arrays of cc", (r) => `{"to":"ok@acme.com","cc":[["ok@acme.com",[${r}]]]}`],
  ["a map key of to", (r) => `{"to":{${r}:"Ann"}}`],
  ["deep headers", (r) => `{"message":{"headers":{"Bcc":${r}}}}`],
  ["a compound no list named before (bcc_address)", (r) => `{"to":"ok@acme.com","bcc_address":${r}}`],
  ["reply_to", (r) => `{"to":"ok@acme.com","reply_to":${r}}`],
  ["a party's mailbox (customer_email)", (r) => `{"customer_email":${r}}`],
  ["a param no rule names (notify)", (r) => `{"to":"ok@acme.com","notify":[${r}]}`],
  ["a map key under a param no rule names", (r) => `{"to":"ok@acme.com","owners":{${r}:"Ann"}}`],
  // (r is a JSON string literal: its opening quote is replaced to put words before it in the same string.)
  ["a list separated by spaces", (r) => `{"to":"ok@acme.com","notify":"ok@acme.com ${r.slice(1)}}`],
  ["a raw header block", (r) => `{"to":"ok@acme.com","headers":"To: ok@acme.com\\r\\nBcc: ${r.slice(1)}}`],
];

const backends = await gatehouseBackends("hostile recipients");

describe.each(backends)("hostile recipients against a blocklist ($name)", (backend) => {
  let receiver: Receiver;
  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver?.close();
  });

  // A function: the manifest names the receiver's URL, known once the hook above has run.
  const gatehouse = gatehouseOn(backend, () => [
    {
      uapk_id: UAPK,
      agent: { id: UAPK, name: "Mailer" },
      capabilities: ["email:send"],
      policy: { counterparty_blocklist: ["*@evil.com", "*@strasse.de"] },
      tools: {
        "email:send": {
          connector: {
            type: "webhook",
            url: `${receiver.url}/send`,
            allowed_hosts: ["127.0.0.1"],
            allow_private: true,
          },
        },
      },
    },
  ]);

  const post = async (params: string) => {
    const response = await fetch(`${gatehouse().url}/api/v1/gateway/execute`, {
      method: "POST",
      headers: { "x-api-key": API_KEY, "content-type": "application/json" },
      body: `{"uapk_id":"${UAPK}","agent_id":"${UAPK}","action":{"type":"email","tool":"send","params":${params}}}`,
    });
    return { status: response.status, body: (await response.json()) as { decision?: string; executed?: boolean } };
  };

  const cases = SPELLINGS.flatMap(([spelling, r]) => PLACES.map(([place, at]) => [`${spelling} in ${place}`, at(r)]));

  it.each(cases)("%s is never ALLOWed", async (_name, params) => {
    const sent = receiver.count("/send");
    const reply = await post(params);
    if (reply.status !== 400) {
      expect(reply.status).toBe(200);
      expect(reply.body.decision).not.toBe("ALLOW");
      expect(reply.body.executed).toBe(false);
    }
    expect(receiver.count("/send")).toBe(sent);
  });

  it("harmless recipients pass", async () => {
    const reply = await post(`{"to":["Ann@Acme.com.","ok@b\u00fccher.example"],"cc":{"team@acme.com":"Team"}}`);
    expect(reply.body).toMatchObject({ decision: "ALLOW", executed: true });
  });
});
