// The layout's dependency rules, checked on every import in the repository: each component is
// reached only through its public surface, the protocol vocabulary depends on nothing of ours,
// and the heavy client libraries stay inside the one folder that owns them.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const skipped = new Set(["node_modules", "generated", ".veritrain", ".git", "fixtures"]);

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (skipped.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sourceFiles(path, out);
    else if (/\.(ts|mts|mjs)$/.test(name) && !name.endsWith(".d.ts")) out.push(relative(root, path));
  }
  return out;
}

interface Import {
  from: string;
  /** A repository path for a relative import, the package name otherwise. */
  target: string;
  relative: boolean;
}

const specifiers =
  /(?:^|[\s;])(?:import|export)\s[^"'`;]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(join(root, file), "utf8");
  const found: Import[] = [];
  for (const m of text.matchAll(specifiers)) {
    const spec = (m[1] ?? m[2])!;
    const rel = spec.startsWith(".");
    found.push({
      from: file,
      relative: rel,
      target: rel ? relative(root, resolve(root, dirname(file), spec)) : spec,
    });
  }
  return found;
}

const files = sourceFiles(root).filter((f) => !f.startsWith("scripts/") || f.endsWith(".ts"));
const imports = files.flatMap(importsOf);

const isTest = (file: string) => file.endsWith(".test.ts") || file.startsWith("test/support/");
const isTooling = (file: string) => isTest(file) || file.startsWith("bench/") || file.startsWith("test/");
/** Test fixtures and benchmarks drive a component's internals on purpose. */
const isHarness = (file: string) => file.startsWith("test/support/") || file.startsWith("bench/");
const inside = (file: string, folder: string) => file.startsWith(`${folder}/`);
const packageOf = (spec: string) =>
  spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!;

function violations(rule: (i: Import) => boolean): string[] {
  return imports.filter(rule).map((i) => `${i.from} imports ${i.target}`);
}

test("the scan sees the repository's imports", () => {
  assert.ok(files.length > 200, `only ${files.length} source files found`);
  assert.ok(imports.some((i) => i.target === "protocol/merkle.ts"));
});

for (const component of ["chain-bridge", "chain"]) {
  test(`${component}/ is reached only through ${component}/index.ts`, () => {
    const deep = violations(
      (i) =>
        i.relative &&
        inside(i.target, component) &&
        i.target !== `${component}/index.ts` &&
        !inside(i.from, component) &&
        !isHarness(i.from),
    );
    assert.deepEqual(deep, []);
  });
}

/** The CLI's commands that act for an ML engineer against the API, and what they share: clients, like any other. */
const clientCommands = new Set([
  ...["demo", "login", "files", "jobs", "sweeps", "receipt", "billing", "webhooks"].map(
    (name) => `cli/commands/${name}.ts`,
  ),
  ...files.filter((f) => inside(f, "cli/remote") && !isTest(f)),
]);

test("the chain, the API, the queue, the bridge and the nodes use protocol/, never the SDK", () => {
  const production = ["chain", "chain-bridge", "api", "queue", "worker-runtime", "protocol", "cli", "config"];
  const found = violations(
    (i) =>
      production.some((p) => inside(i.from, p)) &&
      !isTest(i.from) &&
      !clientCommands.has(i.from) &&
      ((i.relative && inside(i.target, "sdk")) || i.target.startsWith("@veritrain/sdk")),
  );
  assert.deepEqual(found, []);
});

test("the CLI's client commands reach the API only through the SDK", () => {
  const found = violations(
    (i) =>
      clientCommands.has(i.from) && i.relative && !inside(i.target, "sdk") && !clientCommands.has(i.target),
  );
  assert.deepEqual(found, []);
});

test("protocol/ depends on nothing of ours and on no package beyond cryptography", () => {
  const allowedPackages = new Set(["canonicalize", "@polkadot/util-crypto"]);
  const found = violations(
    (i) =>
      inside(i.from, "protocol") &&
      !isTest(i.from) &&
      (i.relative
        ? !inside(i.target, "protocol")
        : !i.target.startsWith("node:") && !allowedPackages.has(packageOf(i.target))),
  );
  assert.deepEqual(found, []);
});

test("only chain-bridge/ imports @polkadot/api, only worker-runtime/ imports onnxruntime", () => {
  const found = violations(
    (i) =>
      !isTooling(i.from) &&
      ((packageOf(i.target) === "@polkadot/api" && !inside(i.from, "chain-bridge")) ||
        (packageOf(i.target).startsWith("onnxruntime") && !inside(i.from, "worker-runtime"))),
  );
  assert.deepEqual(found, []);
});
