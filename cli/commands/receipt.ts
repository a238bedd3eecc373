// `veritrain receipt verify receipt.json --model m.onnx`: checks a receipt offline, against the key
// the platform publishes (fetched from the API) or one given with --public-key.
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { type Receipt, ReceiptVerificationError, verifyReceipt } from "../../sdk/src/index.ts";
import { anyClient } from "../remote/client.ts";
import { answer, CliError, type OutputFlags } from "../remote/output.ts";
import { verifyAgainstPublished } from "../remote/verified-download.ts";

interface VerifyFlags extends OutputFlags {
  model: string;
  publicKey?: string;
}

async function readLocal(path: string): Promise<Buffer> {
  return readFile(path).catch(() => {
    throw new CliError("file_not_found", `${path} is not a readable file`);
  });
}

export function registerReceiptCommands(program: Command): void {
  const receipt = program.command("receipt").description("Training receipts");
  receipt
    .command("verify <receipt>")
    .description("Verify a receipt and the model it is about; exits 7 if it does not hold")
    .requiredOption("--model <path>", "the trained ONNX model the receipt attests")
    .option(
      "--public-key <hex>",
      "the platform's key, to verify fully offline (default: the API's published keys)",
    )
    .option("--json", "print one JSON document")
    .action((path: string, flags: VerifyFlags) =>
      answer(flags, async () => {
        let parsed: Receipt;
        try {
          parsed = JSON.parse((await readLocal(path)).toString("utf8")) as Receipt;
        } catch (error) {
          if (error instanceof CliError) throw error;
          throw new CliError("receipt_unreadable", `${path} is not JSON: ${(error as Error).message}`);
        }
        if (typeof parsed?.body !== "object" || typeof parsed.signature !== "string") {
          throw new CliError("receipt_unreadable", `${path} is not a receipt (no body and signature)`);
        }
        const model = await readLocal(flags.model);
        const jobId = String(parsed.body.job_id);
        let keyId: string;
        let checks: ReturnType<typeof verifyReceipt>["checks"];
        if (flags.publicKey) {
          const verification = verifyReceipt(parsed, model, { platformPublicKey: flags.publicKey });
          if (!verification.valid) throw new ReceiptVerificationError(jobId, verification);
          keyId = flags.publicKey;
          checks = verification.checks;
        } else {
          const outcome = await verifyAgainstPublished(await anyClient(), jobId, parsed, model);
          keyId = outcome.keyId;
          checks = outcome.verification.checks;
        }
        return {
          json: { valid: true, job_id: jobId, key: keyId, checks },
          human: [
            `Receipt of ${jobId} is valid for ${flags.model}: ${checks.length} checks against ${keyId}.`,
            ...checks.map((c) => `  ok  ${c.name}`),
          ],
        };
      }),
    );
}
