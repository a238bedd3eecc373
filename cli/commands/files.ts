// `veritrain files upload|list|get|delete`: models and datasets on the service.
import { stat } from "node:fs/promises";
import { basename, extname } from "node:path";
import type { Command } from "commander";
import type { FileObject, FilePurpose, Veritrain } from "../../sdk/src/index.ts";
import { authenticatedClient } from "../remote/client.ts";
import { answer, CliError, type OutputFlags, table } from "../remote/output.ts";
import { uploadBar } from "../remote/progress.ts";

const PURPOSES: readonly FilePurpose[] = ["model", "dataset"];

export function purposeOf(path: string, given: string | undefined): FilePurpose {
  if (given !== undefined) {
    if (!PURPOSES.includes(given as FilePurpose)) {
      throw new CliError("purpose_invalid", `--purpose must be model or dataset, got '${given}'`);
    }
    return given as FilePurpose;
  }
  return extname(path).toLowerCase() === ".onnx" ? "model" : "dataset";
}

/** Uploads a local file, with a progress bar at a terminal; a missing file is a usage error. */
export async function uploadPath(
  vt: Veritrain,
  path: string,
  purpose: FilePurpose,
  quiet: boolean,
): Promise<FileObject> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) throw new CliError("file_not_found", `${path} is not a readable file`);
  const bar = uploadBar(basename(path), quiet);
  try {
    return await vt.files.upload(purpose, path, undefined, { onProgress: (p) => bar.update(p) });
  } finally {
    bar.stop();
  }
}

export function describeFile(file: FileObject): string[] {
  const d = file.details;
  const shape =
    "parameter_count" in d
      ? `opset ${d.opset}, ${d.parameter_count} parameters, inputs ${d.inputs.map((i) => `${i.name}[${i.shape.join("×")}]`).join(", ")}`
      : `${d.format}, ${d.sample_count ?? "?"} samples, tensors ${d.tensors.map((t) => `${t.name}[${t.shape.join("×")}]`).join(", ")}`;
  return [
    `${file.id}  ${file.purpose}  ${file.filename}  ${file.bytes} bytes`,
    `  ${shape}`,
    `  sha256 ${file.sha256}`,
  ];
}

interface UploadFlags extends OutputFlags {
  purpose?: string;
}

interface ListFlags extends OutputFlags {
  purpose?: string;
  limit: string;
  after?: string;
}

export function registerFilesCommands(program: Command): void {
  const files = program.command("files").description("Models and datasets uploaded to the service");

  files
    .command("upload <path>")
    .description("Upload an ONNX model or a dataset (safetensors, .npy, .npz, CSV); the API inspects it")
    .option("--purpose <purpose>", "model or dataset (default: model for .onnx, else dataset)")
    .option("--json", "print one JSON document")
    .action((path: string, flags: UploadFlags) =>
      answer(flags, async () => {
        const purpose = purposeOf(path, flags.purpose);
        const file = await uploadPath(await authenticatedClient(), path, purpose, flags.json === true);
        return { json: file, human: describeFile(file) };
      }),
    );

  files
    .command("list")
    .description("Uploaded files, newest first")
    .option("--purpose <purpose>", "only models or only datasets")
    .option("--limit <n>", "how many", "20")
    .option("--after <id>", "the page after this file id")
    .option("--json", "print one JSON document")
    .action((flags: ListFlags) =>
      answer(flags, async () => {
        const vt = await authenticatedClient();
        const page = await vt.files.list({
          limit: Number(flags.limit),
          ...(flags.purpose ? { purpose: purposeOf("", flags.purpose) } : {}),
          ...(flags.after ? { after: flags.after } : {}),
        });
        const rows = page.data.map((f) => [f.id, f.purpose, String(f.bytes), f.created_at, f.filename]);
        return {
          json: page,
          human:
            page.data.length === 0
              ? "No files."
              : table([["ID", "PURPOSE", "BYTES", "CREATED", "NAME"], ...rows]),
        };
      }),
    );

  files
    .command("get <id>")
    .description("One file and what the inspection found in it")
    .option("--json", "print one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const file = await (await authenticatedClient()).files.get(id);
        return { json: file, human: describeFile(file) };
      }),
    );

  files
    .command("delete <id>")
    .description("Delete a file (jobs that used it keep their record)")
    .option("--json", "print one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const file = await (await authenticatedClient()).files.delete(id);
        return { json: file, human: `Deleted ${file.id} (${file.filename}).` };
      }),
    );
}
