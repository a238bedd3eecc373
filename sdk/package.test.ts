// The SDK as a user gets it: `npm pack`, installed into an empty project, imported from plain
// Node 20 with `import` and with `require`, and type-checked from both module systems.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const sdkDir = fileURLToPath(new URL(".", import.meta.url));
const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
const npm = (args: string[], cwd: string) =>
  execFileSync("npm", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

// What a user would run first: build a client, verify a receipt offline, read the node wire types.
const USE = `
const vt = new Veritrain({ apiKey: "vt_test", baseUrl: "http://127.0.0.1:9", maxRetries: 0 });
const verification = verifyReceipt({ body: {}, signature: "" }, new Uint8Array(), { platformPublicKey: "" });
console.log(JSON.stringify({
  client: typeof vt.trainingJobs.create,
  valid: verification.valid,
  root: Buffer.from(merkleRoot([new Uint8Array(32)])).toString("hex").length,
  roles: NODE_ROLES,
  error: new VeritrainError({ status: 400, type: "invalid_request_error", code: "x", message: "m", param: null, requestId: null }) instanceof Error,
}));
`;
const EXPECTED = {
  client: "function",
  valid: false,
  root: 64,
  roles: ["worker", "verifier", "whistleblower"],
  error: true,
};

describe("the packed SDK", () => {
  let project: string;
  let files: string[];

  before(() => {
    const out = mkdtempSync(join(tmpdir(), "vt-sdk-pack-"));
    // `npm pack` builds through prepack; built first here so its output stays out of the JSON.
    npm(["run", "build"], sdkDir);
    const packed = JSON.parse(
      npm(["pack", "--json", "--ignore-scripts", "--pack-destination", out], sdkDir),
    ) as Array<{
      filename: string;
      files: Array<{ path: string }>;
    }>;
    files = packed[0]!.files.map((f) => f.path);
    project = mkdtempSync(join(tmpdir(), "vt-sdk-user-"));
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "user-project", private: true }));
    npm(["install", "--prefer-offline", "--no-audit", "--no-fund", join(out, packed[0]!.filename)], project);
  });

  it("holds the built module formats and declarations, and no TypeScript sources", () => {
    for (const file of [
      "dist/index.js",
      "dist/index.cjs",
      "dist/index.d.ts",
      "dist/index.d.cts",
      "package.json",
    ]) {
      assert.ok(files.includes(file), `${file} missing from ${files.join(", ")}`);
    }
    assert.deepEqual(
      files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && !f.endsWith(".d.cts")),
      [],
    );
    assert.ok(readdirSync(join(project, "node_modules", "@veritrain", "sdk", "dist")).includes("index.js"));
  });

  it("works with import from plain Node", () => {
    const script = `import { Veritrain, VeritrainError, merkleRoot, verifyReceipt } from "@veritrain/sdk";
import { NODE_ROLES } from "@veritrain/sdk/node-protocol";${USE}`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: project,
      encoding: "utf8",
    });
    assert.deepEqual(JSON.parse(out), EXPECTED);
  });

  it("works with require from plain Node", () => {
    const script = `const { Veritrain, VeritrainError, merkleRoot, verifyReceipt } = require("@veritrain/sdk");
const { NODE_ROLES } = require("@veritrain/sdk/node-protocol");${USE}`;
    const out = execFileSync(process.execPath, ["--input-type=commonjs", "-e", script], {
      cwd: project,
      encoding: "utf8",
    });
    assert.deepEqual(JSON.parse(out), EXPECTED);
  });

  it("type-checks from an ES module and a CommonJS module", () => {
    const typed = (importLine: string) => `${importLine}
const vt = new Veritrain({ apiKey: "vt_test" });
const quote: Promise<Quote> = vt.trainingJobs.quote({ model: "file_a", dataset: "file_b", spec: {} as TrainingSpec });
// @ts-expect-error verification levels are a closed set
vt.trainingJobs.create({ model: "file_a", dataset: "file_b", spec: {} as TrainingSpec, verification: "lax" });
const spec: TrainingSpec = { inputs: { x: "x" }, target: "y", output: "logits", loss: { type: "mse" }, batch_size: 32, optimizer: { type: "sgd", lr: 0.1 } };
// @ts-expect-error losses are a closed set
const wrongLoss: TrainingSpec = { ...spec, loss: { type: "hinge" } };
void quote;
void wrongLoss;
`;
    writeFileSync(
      join(project, "esm.mts"),
      typed(`import { Veritrain, type Quote, type TrainingSpec } from "@veritrain/sdk";`),
    );
    writeFileSync(
      join(project, "cjs.cts"),
      typed(
        `import sdk = require("@veritrain/sdk");\nconst { Veritrain } = sdk;\ntype Quote = sdk.Quote;\ntype TrainingSpec = sdk.TrainingSpec;`,
      ),
    );
    const args = [
      "--noEmit",
      "--strict",
      "--module",
      "node16",
      "--moduleResolution",
      "node16",
      "--types",
      "node",
    ];
    execFileSync(
      process.execPath,
      [tsc, ...args, "--typeRoots", join(sdkDir, "../node_modules/@types"), "esm.mts", "cjs.cts"],
      {
        cwd: project,
        encoding: "utf8",
      },
    );
  });
});
