import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type Command, Option } from "commander";
import { isWellKnownDevSeed } from "../../config/dev-keys.ts";
import { ConfigError } from "../../config/errors.ts";
import { NODE_ROLES, type NodeRole } from "../../protocol/node-wire.ts";
import { DEFAULT_RECORDS_LIMIT_BYTES, NodeDaemon } from "../../worker-runtime/node/daemon.ts";
import { FAULTS, faultFor } from "../../worker-runtime/node/faults.ts";
import { DEFAULT_RECHECK_SHARE } from "../../worker-runtime/node/whistleblower.ts";
import { wholeNumber } from "../arguments.ts";
import { fail, onShutdown } from "../process.ts";

interface NodeCommandOptions {
  role: NodeRole;
  api: string;
  chain?: string;
  seedFile?: string;
  dataDir: string;
  duties: number;
  fault?: string;
  threads?: string;
  recheckShare?: string;
  recordsLimitMb?: number;
}

/**
 * The node's secret comes from a file or the environment, never from the command line, where
 * every user of the machine can read it in `ps`.
 */
export function nodeSeed(seedFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const seed = (seedFile ? readFileSync(seedFile, "utf8") : (env.VERITRAIN_NODE_SEED ?? "")).trim();
  if (!seed) {
    throw new ConfigError(
      "INVALID_NODE_SEED",
      "the node needs its sr25519 secret URI: set VERITRAIN_NODE_SEED or pass --seed-file PATH",
    );
  }
  if (env.NODE_ENV === "production" && isWellKnownDevSeed(seed)) {
    throw new ConfigError(
      "INVALID_NODE_SEED",
      "NODE_ENV=production refuses a public development key as the node's identity: anyone could sign as this node",
    );
  }
  return seed;
}

export function registerNodeCommand(program: Command): void {
  program
    .command("node")
    .description(
      "Run a node: claim and train tasks (worker), audit them (verifier), or watch (whistleblower)",
    )
    .addOption(new Option("--role <role>", "what this node does").choices(NODE_ROLES).makeOptionMandatory())
    .requiredOption("--api <url>", "the Veritrain API whose node gateway hands out work")
    .option("--chain <url>", "the chain's WebSocket RPC, for staking and commitments")
    .option(
      "--seed-file <path>",
      "a file holding the node's sr25519 secret URI (default: the VERITRAIN_NODE_SEED variable)",
    )
    .option("--data-dir <dir>", "where downloaded inputs and checkpoints are kept", ".veritrain/node")
    .addOption(
      new Option(
        "--duties <n>",
        "how many tasks or audits at once the node's bond backs when it registers: it bonds n times the role's minimum stake",
      )
        .argParser(wholeNumber("--duties", 1))
        .default(1),
    )
    .option(
      "--threads <n>",
      "onnxruntime intra-op threads of its trainings and replays (default 1); part of the determinism profile it registers, so it is paired only with nodes of the same count",
    )
    .option(
      "--recheck-share <share>",
      `whistleblowers: the share of verdicts it re-checks by replaying their segment, from 0 to 1 (default ${DEFAULT_RECHECK_SHARE})`,
    )
    .addOption(
      new Option(
        "--records-limit-mb <n>",
        `the most its dispute records (inputs and checkpoints kept to play disputes, under the data dir) may hold, in MB; beyond it the node takes no new work until disputes settle (default ${DEFAULT_RECORDS_LIMIT_BYTES / 2 ** 20})`,
      ).argParser(wholeNumber("--records-limit-mb", 1)),
    )
    .option(
      "--fault <mode>",
      `misbehave on purpose, for testing (needs VERITRAIN_ALLOW_FAULTS=1, never in production): ${Object.keys(FAULTS).join(", ")}`,
    )
    .action(async (options: NodeCommandOptions) => {
      try {
        const fault = options.fault === undefined ? undefined : faultFor(options.fault, options.role);
        const daemon = await NodeDaemon.start({
          role: options.role,
          apiUrl: options.api,
          ...(options.chain ? { chainUrl: options.chain } : {}),
          ...(fault ? { fault } : {}),
          ...(options.threads === undefined ? {} : { threads: Number(options.threads) }),
          ...(options.recheckShare === undefined ? {} : { recheckShare: Number(options.recheckShare) }),
          ...(options.recordsLimitMb === undefined
            ? {}
            : { recordsLimitBytes: options.recordsLimitMb * 2 ** 20 }),
          seed: nodeSeed(options.seedFile),
          dataDir: resolve(options.dataDir),
          duties: options.duties,
          log: (message) =>
            process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), message })}\n`),
        });
        onShutdown(() => daemon.stop());
        await daemon.done();
      } catch (error) {
        fail(error);
      }
    });
}
