// Where `veritrain login` keeps the API key: $XDG_CONFIG_HOME/veritrain/config.json (else
// ~/.config/...), readable by its owner only, as a credentials file should be. The environment
// (VERITRAIN_API_KEY, VERITRAIN_BASE_URL) overrides it, so CI never needs a login.
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { CliError } from "./output.ts";

export const DEFAULT_BASE_URL = "http://localhost:8080";

export interface StoredConfig {
  api_key: string;
  base_url: string;
}

export interface Credentials {
  apiKey: string | undefined;
  baseUrl: string;
}

export function configPath(): string {
  const base = process.env.XDG_CONFIG_HOME?.trim() || join(homedir(), ".config");
  return join(base, "veritrain", "config.json");
}

export async function readConfig(): Promise<StoredConfig | undefined> {
  const path = configPath();
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<StoredConfig>;
    if (typeof parsed.api_key === "string" && typeof parsed.base_url === "string") {
      return { api_key: parsed.api_key, base_url: parsed.base_url };
    }
  } catch {
    // Reported below with the file's path, like a config of the wrong shape.
  }
  throw new CliError(
    "config_invalid",
    `${path} is not a config written by \`veritrain login\`; log in again`,
  );
}

export async function writeConfig(config: StoredConfig): Promise<string> {
  const path = configPath();
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode applies only when it creates the file: an older, looser file is tightened too.
  await chmod(path, 0o600);
  return path;
}

/** True when there was a stored login to forget. */
export async function removeConfig(): Promise<boolean> {
  const path = configPath();
  const existed = (await readConfig().catch(() => undefined)) !== undefined;
  await rm(path, { force: true });
  return existed;
}

const fromEnv = (name: string) => process.env[name]?.trim() || undefined;

/** The key and API to use: the environment first, then the stored login, then a local stack. */
export async function credentials(): Promise<Credentials> {
  const stored = await readConfig();
  return {
    apiKey: fromEnv("VERITRAIN_API_KEY") ?? stored?.api_key,
    baseUrl: (fromEnv("VERITRAIN_BASE_URL") ?? stored?.base_url ?? DEFAULT_BASE_URL).replace(/\/+$/, ""),
  };
}
