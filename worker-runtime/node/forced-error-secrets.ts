// A verifier's forced-error secrets on disk, by the commitment the chain holds for each
// (PROTOCOL.md §3, §5.5): a verifier holding several audits has one secret per open audit, and
// must still know each after a restart to reveal it. Each is written before its commitment is
// submitted, so a commitment on chain always has its secret here.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ForcedErrorSecret } from "../../chain-bridge/index.ts";
import { NodeError } from "./errors.ts";

const SECRETS_FILE = "forced-error-secrets.json";

function load(dataDir: string): Record<string, string> {
  const file = join(dataDir, SECRETS_FILE);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, string>) : {};
}

/** Written whole to a temporary file and renamed, so a crash never leaves half a file. */
function store(dataDir: string, secrets: Record<string, string>): void {
  const file = join(dataDir, SECRETS_FILE);
  writeFileSync(`${file}.tmp`, `${JSON.stringify(secrets)}\n`, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

export function keepSecret(dataDir: string, secret: ForcedErrorSecret): void {
  store(dataDir, { ...load(dataDir), [secret.commitment]: secret.secret });
}

export function secretFor(dataDir: string, commitment: string): string {
  const secret = load(dataDir)[commitment];
  if (secret === undefined) {
    throw new NodeError(
      "CHAIN_REJECTED",
      `no forced-error secret in ${dataDir} for commitment ${commitment}; secrets are made when the node stakes or commits anew`,
    );
  }
  return secret;
}

/** A revealed secret is public and its commitment spent: nothing needs it any more. */
export function forgetSecret(dataDir: string, commitment: string): void {
  const { [commitment]: _revealed, ...rest } = load(dataDir);
  store(dataDir, rest);
}
