// The published package: ESM and CommonJS for Node 20, with declarations for both. The protocol
// vocabulary the SDK re-exports (../protocol) is bundled in, so the tarball stands alone, and so
// is `canonicalize`, which ships as an ES module only and would break `require`.
import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", "node-protocol": "src/node-protocol.ts" },
  format: ["esm", "cjs"],
  dts: true,
  outDir: "dist",
  clean: true,
  target: "node20",
  platform: "node",
  sourcemap: true,
  splitting: false,
  noExternal: ["canonicalize"],
});
