import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { startDevnet } from "../chain/index.ts";
import { connectChain, readBalance } from "../chain-bridge/index.ts";
import { NodeError } from "../worker-runtime/node/errors.ts";
import { loadIdentity } from "../worker-runtime/node/identity.ts";
import {
  DEFAULT_LOCAL_NODES,
  DERIVED_WHISTLEBLOWER_SEED,
  faultyLocalNode,
  fundLocalNodes,
  LOCAL_NODE_FUNDS,
  localNodeDir,
  localNodes,
} from "./local-nodes.ts";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const ALLOWED = { VERITRAIN_ALLOW_FAULTS: "1" };
const refused = (pattern: RegExp) => (e: unknown) =>
  e instanceof NodeError && e.code === "FAULTS_REFUSED" && pattern.test(e.message);

describe("`up --fault ROLE:MODE`", () => {
  it("adds one faulty node of that role, on an account none of the honest nodes use", () => {
    const worker = faultyLocalNode("worker:skip-steps", ALLOWED);
    assert.deepEqual(worker, { role: "worker", seed: "//Ferdie", fault: "skip-steps" });
    assert.equal(localNodeDir(worker), "worker-ferdie-skip-steps");
    // Without a faulty node, the spare account runs the honest whistleblower.
    assert.deepEqual(localNodes(DEFAULT_LOCAL_NODES).at(-1), { role: "whistleblower", seed: worker.seed });
    const withFault = localNodes(DEFAULT_LOCAL_NODES, worker);
    assert.deepEqual(withFault.at(-2), worker);
    assert.ok(withFault.slice(0, -2).every((node) => node.seed !== worker.seed && !node.fault));
    assert.deepEqual(faultyLocalNode("verifier:lazy", ALLOWED), {
      role: "verifier",
      seed: "//Ferdie",
      fault: "lazy",
    });
  });

  it("runs a whistleblower beside the faulty node, on a derived account the stack funds", () => {
    const lazy = faultyLocalNode("verifier:lazy", ALLOWED);
    const nodes = localNodes(DEFAULT_LOCAL_NODES, lazy);
    const whistleblower = nodes.at(-1)!;
    assert.deepEqual(whistleblower, {
      role: "whistleblower",
      seed: DERIVED_WHISTLEBLOWER_SEED,
      needsFunds: true,
    });
    assert.equal(localNodeDir(whistleblower), "whistleblower-ferdie-whistleblower");
    assert.equal(new Set(nodes.map((node) => node.seed)).size, nodes.length, "an account of its own each");
    assert.deepEqual(
      nodes.filter((node) => node.needsFunds),
      [whistleblower],
      "only it is not endowed at genesis",
    );
  });

  it("funds the derived account from the operator's before it starts, once", async () => {
    const devnet = await startDevnet({ port: 0, blockTimeMs: 100 });
    const chain = await connectChain(devnet.wsUrl);
    try {
      const nodes = localNodes(DEFAULT_LOCAL_NODES, faultyLocalNode("verifier:lazy", ALLOWED));
      const { address } = await loadIdentity(DERIVED_WHISTLEBLOWER_SEED);
      assert.equal((await readBalance(chain.api, address)).free, 0n);
      await fundLocalNodes(devnet.wsUrl, "//Alice", nodes);
      assert.equal((await readBalance(chain.api, address)).free, LOCAL_NODE_FUNDS);
      // A restarted stack tops nothing up: the account holds its funds already.
      const operator = (await readBalance(chain.api, (await loadIdentity("//Alice")).address)).free;
      await fundLocalNodes(devnet.wsUrl, "//Alice", nodes);
      assert.equal((await readBalance(chain.api, address)).free, LOCAL_NODE_FUNDS);
      assert.equal((await readBalance(chain.api, (await loadIdentity("//Alice")).address)).free, operator);
    } finally {
      await chain.close();
      await devnet.stop();
    }
  });

  it("is refused as `node --fault` is: without VERITRAIN_ALLOW_FAULTS=1, in production, for another role", () => {
    assert.throws(() => faultyLocalNode("worker:skip-steps", {}), refused(/VERITRAIN_ALLOW_FAULTS=1/));
    assert.throws(
      () => faultyLocalNode("worker:skip-steps", { ...ALLOWED, NODE_ENV: "production" }),
      refused(/production/),
    );
    assert.throws(() => faultyLocalNode("worker:lazy", ALLOWED), refused(/for a verifier/));
    assert.throws(() => faultyLocalNode("worker:nonsense", ALLOWED), refused(/unknown fault mode/));
    for (const option of ["skip-steps", "whistleblower:lazy", "worker:skip-steps:x", "worker:"]) {
      assert.throws(() => faultyLocalNode(option, ALLOWED), refused(/ROLE:MODE/), option);
    }
  });

  it("stops `veritrain up` before it starts anything when refused", () => {
    const env = { ...process.env };
    delete env.VERITRAIN_ALLOW_FAULTS;
    const run = spawnSync(process.execPath, ["bin/veritrain.mjs", "up", "--fault", "worker:skip-steps"], {
      cwd: repoRoot,
      encoding: "utf8",
      env,
      timeout: 180_000,
    });
    assert.equal(run.status, 1, `${run.error ?? ""}\n${run.stderr}`);
    assert.match(run.stderr, /^error \[FAULTS_REFUSED\]: .*VERITRAIN_ALLOW_FAULTS=1/m);
    assert.doesNotMatch(run.stdout, /Veritrain is up/);
  });
});
