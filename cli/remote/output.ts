// How the service commands answer: a human summary on stdout, or with --json exactly one JSON
// document on stdout; errors on stderr (as {"error": {...}} with the API's own code under --json);
// and an exit code a script can branch on (EXIT below, documented in docs/cli.md).
import { ReceiptVerificationError, VeritrainConnectionError, VeritrainError } from "../../sdk/src/index.ts";

export const EXIT = {
  ok: 0,
  /** The API answered with an error (its code says which), or something unexpected failed. */
  apiError: 1,
  /** Bad local input: a missing file, an unreadable spec, a bad flag value. */
  usage: 2,
  /** No API key, or the API refused it. */
  auth: 3,
  /** The API could not be reached or did not answer in time. */
  connection: 4,
  /** The job ended failed or cancelled. */
  jobFailed: 5,
  /** Not done on purpose: the price is above --max-price, or the confirmation was declined. */
  refused: 6,
  /** A receipt that does not verify: nothing was written. */
  receiptInvalid: 7,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error of the CLI itself, with a code in the API's style and the exit code it ends with. */
export class CliError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode: ExitCode = EXIT.usage,
    /** Extra fields for --json's error object (e.g. the failed receipt checks). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "CliError";
  }
}

const AUTH_CODES = new Set(["missing_credentials", "invalid_api_key", "invalid_authorization_header"]);

interface ErrorReport {
  exitCode: ExitCode;
  body: { type: string; code: string; message: string; param: string | null } & Record<string, unknown>;
}

function report(error: unknown): ErrorReport {
  if (error instanceof CliError) {
    return {
      exitCode: error.exitCode,
      body: { type: "cli_error", code: error.code, message: error.message, param: null, ...error.details },
    };
  }
  if (error instanceof ReceiptVerificationError) {
    return {
      exitCode: EXIT.receiptInvalid,
      body: {
        type: "verification_error",
        code: "receipt_invalid",
        message: error.message,
        param: null,
        checks: error.verification.checks,
      },
    };
  }
  if (error instanceof VeritrainError) {
    const exitCode =
      error instanceof VeritrainConnectionError
        ? EXIT.connection
        : AUTH_CODES.has(error.code)
          ? EXIT.auth
          : EXIT.apiError;
    return {
      exitCode,
      body: {
        type: error.type,
        code: error.code,
        message: error.message,
        param: error.param,
        ...(error.requestId ? { request_id: error.requestId } : {}),
      },
    };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { exitCode: EXIT.apiError, body: { type: "cli_error", code: "unexpected", message, param: null } };
}

export interface OutputFlags {
  json?: boolean;
}

/** What a command produced: the JSON document, and the lines a person reads instead. */
export interface Answer {
  json: unknown;
  human: string | string[];
  /** Non-zero when the command did its work but the outcome is a failure (a failed job). */
  exitCode?: ExitCode;
}

/** Runs a command body and prints its answer or its error the way --json asks. */
export async function answer(flags: OutputFlags, body: () => Promise<Answer>): Promise<void> {
  try {
    const result = await body();
    if (flags.json) process.stdout.write(`${JSON.stringify(result.json)}\n`);
    else {
      const lines = Array.isArray(result.human) ? result.human : [result.human];
      if (lines.length > 0) process.stdout.write(`${lines.join("\n")}\n`);
    }
    process.exitCode = result.exitCode ?? EXIT.ok;
  } catch (error) {
    const { exitCode, body: err } = report(error);
    if (flags.json) process.stderr.write(`${JSON.stringify({ error: err })}\n`);
    else process.stderr.write(`error [${err.code}]: ${err.message}\n`);
    process.exitCode = exitCode;
  }
}

export const dollars = (cents: number) => `${cents < 0 ? "-" : ""}$${(Math.abs(cents) / 100).toFixed(2)}`;

/** Fixed-width columns for list output. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => row[i]!.length))) ?? [];
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}
