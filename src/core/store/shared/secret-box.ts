// Private keys at rest in the shared store: AES-256-GCM under a key derived from GATEHOUSE_SECRET, so every
// node holding the secret can sign, and a database dump alone cannot.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const FORMAT = "aes256gcm.v1";

export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

export function secretBox(secret: string | Buffer): SecretBox {
  if (secret.length < 16) throw new Error("GATEHOUSE_SECRET must be at least 16 characters to encrypt signing keys");
  const key = Buffer.from(hkdfSync("sha256", secret, "gatehouse", "signing-keys at rest", 32));
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, iv);
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
      return [FORMAT, iv, cipher.getAuthTag(), body]
        .map((p) => (typeof p === "string" ? p : p.toString("base64url")))
        .join(":");
    },
    open(sealed) {
      const [format, iv, tag, body] = sealed.split(":");
      if (format !== FORMAT || !iv || !tag || body === undefined)
        throw new Error("signing key: not sealed by this store");
      const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      try {
        return Buffer.concat([decipher.update(Buffer.from(body, "base64url")), decipher.final()]).toString("utf8");
      } catch {
        throw new Error("signing key: cannot decrypt (GATEHOUSE_SECRET differs from the one that sealed it)");
      }
    },
  };
}
