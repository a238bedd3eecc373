// `veritrain login` / `logout`: keep an API key (checked against the API first) in the user's
// config directory, so the service commands need no environment.
import type { Command } from "commander";
import { Veritrain } from "../../sdk/src/index.ts";
import {
  configPath,
  credentials,
  DEFAULT_BASE_URL,
  readConfig,
  removeConfig,
  writeConfig,
} from "../remote/config.ts";
import { answer, CliError, dollars, EXIT, type OutputFlags } from "../remote/output.ts";
import { ask } from "../remote/prompt.ts";

interface LoginFlags extends OutputFlags {
  apiKey?: string;
  baseUrl?: string;
}

export function registerLoginCommands(program: Command): void {
  program
    .command("login")
    .description("Check an API key against the API and keep it for the other commands")
    .option("--api-key <key>", "the key (vt_...); without it, read from stdin")
    .option("--base-url <url>", "the API", process.env.VERITRAIN_BASE_URL?.trim() || undefined)
    .option("--json", "print one JSON document")
    .action((flags: LoginFlags) =>
      answer(flags, async () => {
        const stored = await readConfig().catch(() => undefined);
        const baseUrl = (flags.baseUrl ?? stored?.base_url ?? DEFAULT_BASE_URL).replace(/\/+$/, "");
        const apiKey =
          flags.apiKey?.trim() || (await ask(`API key for ${baseUrl} (from the portal's API keys page): `));
        if (!apiKey) throw new CliError("api_key_missing", "no API key given", EXIT.auth);
        // A key the API refuses is never stored: the error (invalid_api_key, exit 3) ends here.
        const balance = await new Veritrain({ apiKey, baseUrl }).billing.balance();
        const path = await writeConfig({ api_key: apiKey, base_url: baseUrl });
        return {
          json: { base_url: baseUrl, config_path: path, key_prefix: apiKey.slice(0, 11), balance },
          human: [
            `Logged in to ${baseUrl}; balance ${dollars(balance.available_cents)}.`,
            `Key kept in ${path}.`,
          ],
        };
      }),
    );

  program
    .command("logout")
    .description("Forget the stored API key")
    .option("--json", "print one JSON document")
    .action((flags: OutputFlags) =>
      answer(flags, async () => {
        const removed = await removeConfig();
        const path = configPath();
        const { apiKey } = await credentials();
        const lines = [removed ? `Removed ${path}.` : "Not logged in: nothing to remove."];
        if (apiKey) lines.push("VERITRAIN_API_KEY is still set in this environment.");
        return { json: { logged_out: removed, config_path: path }, human: lines };
      }),
    );
}
