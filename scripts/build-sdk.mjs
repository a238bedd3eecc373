// Builds @veritrain/sdk (sdk/dist) after `npm ci`, so `import "@veritrain/sdk"` works inside this
// repository as it does for a user. An install without dev dependencies (the Docker image runs the
// sources with tsx and never imports the built SDK) has no tsup: there is nothing to build then.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
try {
  require.resolve("tsup/package.json");
} catch {
  console.log("sdk: tsup is not installed (production install), the SDK is not built");
  process.exit(0);
}
execFileSync("npm", ["run", "build", "--workspace", "sdk"], { stdio: "inherit" });
