export {
  createSigningKeyStore,
  type ActiveSigningKey,
  type PublicJwk,
  type SigningKeyPurpose,
  type SigningKeyStore,
} from "./signing-keys";
