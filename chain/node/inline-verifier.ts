// Signature checks on the calling thread (tests, light use); see worker-verifier.ts for throughput.
import { verifySignature } from "../runtime/signature.ts";
import type { SignatureVerifier } from "./transaction-pool.ts";

export const inlineVerifier: SignatureVerifier = {
  verify: async (check) => verifySignature(check.scheme, check.signature, check.message, check.accountId),
  close: async () => undefined,
};
