// Worker thread body of WorkerVerifier: verifies batches of signatures with wasm-crypto.
import { parentPort } from "node:worker_threads";
import { signatureCryptoReady, verifySignature } from "../runtime/signature.ts";
import type { SignatureCheck } from "../runtime/transaction-check.ts";

export type VerifyBatch = { readonly id: number; readonly checks: readonly SignatureCheck[] };
export type VerifyResults = { readonly id: number; readonly valid: readonly boolean[] };

await signatureCryptoReady;
parentPort?.on("message", (batch: VerifyBatch) => {
  const valid = batch.checks.map((check) =>
    verifySignature(check.scheme, check.signature, check.message, check.accountId),
  );
  parentPort?.postMessage({ id: batch.id, valid } satisfies VerifyResults);
});
parentPort?.postMessage("ready");
