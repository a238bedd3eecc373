// The SDK client the service commands share, from the stored login or the environment.
import { Veritrain } from "../../sdk/src/index.ts";
import { credentials } from "./config.ts";
import { CliError, EXIT } from "./output.ts";

/** A client with an API key; fails with not_logged_in (exit 3) when there is none. */
export async function authenticatedClient(): Promise<Veritrain> {
  const { apiKey, baseUrl } = await credentials();
  if (!apiKey) {
    throw new CliError(
      "not_logged_in",
      "no API key: run `veritrain login`, or set VERITRAIN_API_KEY",
      EXIT.auth,
    );
  }
  return new Veritrain({ apiKey, baseUrl });
}

/** A client for the routes anyone may call (the published receipt keys): a key if there is one. */
export async function anyClient(): Promise<Veritrain> {
  const { apiKey, baseUrl } = await credentials();
  return new Veritrain({ apiKey, baseUrl });
}
