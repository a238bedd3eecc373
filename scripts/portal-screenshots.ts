// `npm run docs:screenshots`: runs the portal's browser test (test/portal.test.ts) with
// PORTAL_SCREENSHOTS set, so that it saves the portal's main views, on a stack that really
// trained the job shown, as the PNGs in docs/img that the README shows.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const result = spawnSync(
  process.execPath,
  ["--import", "tsx", "scripts/run-tests.ts", "test/portal.test.ts"],
  { cwd: root, stdio: "inherit", env: { ...process.env, PORTAL_SCREENSHOTS: `${root}docs/img` } },
);
process.exit(result.status ?? 1);
