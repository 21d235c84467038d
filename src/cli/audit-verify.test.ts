// Which keys an offline verifier of the audit trusts: of a JWKS that names its keys' purposes (Gatehouse's own),
// the `audit` keys only. A token issuer's key must never vouch for an audit record (review R10).
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { jwksToKeys } from "./audit-verify";

const publicJwk = (kid: string, purpose?: string) => {
  const { x } = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }) as { x: string };
  return { kty: "OKP", crv: "Ed25519", x, kid, alg: "EdDSA", use: "sig", ...(purpose ? { purpose } : {}) };
};

describe("the keys audit verify trusts", () => {
  it("of a set that names purposes, the audit keys alone", () => {
    const jwks = {
      keys: [publicJwk("tok", "capability-token"), publicJwk("aud", "audit"), publicJwk("dev", "user-token")],
    };
    expect([...jwksToKeys(jwks).keys()]).toEqual(["aud"]);
  });

  it("a set naming purposes but no audit key has nothing to verify with", () => {
    expect(() => jwksToKeys({ keys: [publicJwk("tok", "capability-token")] })).toThrow(/no Ed25519/);
  });

  it("a set naming none (an older Gatehouse's, or an auditor's own) is taken whole", () => {
    expect([...jwksToKeys({ keys: [publicJwk("a"), publicJwk("b")] }).keys()]).toEqual(["a", "b"]);
  });
});
