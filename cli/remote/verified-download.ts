// Downloads a succeeded job's model and receipt and verifies the receipt against a key the
// platform publishes (GET /v1/receipt-keys), never the key the receipt names, before anything is
// written: a model whose receipt does not verify never lands on disk. Safetensors are made here
// from the verified ONNX model (the API's ?format=safetensors gives the same bytes), so they carry
// exactly the weights the receipt attests.
import { writeFile } from "node:fs/promises";
import {
  modelWeightsAsSafetensors,
  type Receipt,
  type ReceiptVerification,
  ReceiptVerificationError,
  type Veritrain,
} from "../../sdk/src/index.ts";

export type ModelFormat = "onnx" | "safetensors";

export interface VerifiedFiles {
  format: ModelFormat;
  model_path: string;
  receipt_path: string;
  model_sha256: string;
  receipt_key_id: string;
  checks: ReceiptVerification["checks"];
}

/** Verifies `receipt` for `model` against the published keys; throws ReceiptVerificationError. */
export async function verifyAgainstPublished(
  vt: Veritrain,
  jobId: string,
  receipt: Receipt,
  model: Uint8Array,
): Promise<{ keyId: string; verification: ReceiptVerification }> {
  const { keyId, ...verification } = await vt.receiptKeys.verify(receipt, model);
  if (!verification.valid || keyId === null) throw new ReceiptVerificationError(jobId, verification);
  return { keyId, verification };
}

export async function downloadVerified(
  vt: Veritrain,
  jobId: string,
  paths: { model: string; receipt: string },
  format: ModelFormat = "onnx",
): Promise<VerifiedFiles> {
  const [model, receipt] = await Promise.all([vt.trainingJobs.model(jobId), vt.trainingJobs.receipt(jobId)]);
  const { keyId, verification } = await verifyAgainstPublished(vt, jobId, receipt, model);
  await writeFile(paths.receipt, `${JSON.stringify(receipt, null, 2)}\n`);
  await writeFile(paths.model, format === "onnx" ? model : modelWeightsAsSafetensors(model));
  return {
    format,
    model_path: paths.model,
    receipt_path: paths.receipt,
    model_sha256: receipt.body.result.model_sha256,
    receipt_key_id: keyId,
    checks: verification.checks,
  };
}
