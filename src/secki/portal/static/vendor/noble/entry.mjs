// The build entry of noble.js (see README.md): Ed25519 verification (RFC 8032 / FIPS 186-5
// strict, not ZIP-215) and SHA-256, for browsers whose WebCrypto lacks them.
import * as ed from "@noble/ed25519";
import { sha256, sha512 } from "@noble/hashes/sha2.js";

ed.hashes.sha512 = sha512;

export function verify(signature, message, publicKey) {
  return ed.verify(signature, message, publicKey, { zip215: false });
}

export { sha256 };
