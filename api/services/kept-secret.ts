// Secrets a development stack makes for itself on first start and keeps in its data directory,
// readable by its owner only, so that what they signed stays valid after a restart.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface KeptSecret {
  value: string;
  /** When the stack made it. */
  createdAt: Date;
}

/** The secret in `dataDir/fileName`, made with `make` if absent. */
export function keptSecret(dataDir: string, fileName: string, make: () => string): KeptSecret {
  const file = join(dataDir, fileName);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, make(), { mode: 0o600, flag: "wx" });
    } catch (error) {
      // Another process of the same stack made it a moment ago: theirs is the one.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
  }
  return { value: readFileSync(file, "utf8"), createdAt: statSync(file).mtime };
}
