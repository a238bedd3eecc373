// engine_*: Substrate's manual-seal RPC. A test or a developer seals a block exactly when they
// want one. Offered only by a chain started with manual seal, as Substrate offers it: elsewhere
// any RPC client could seal blocks at will and run out the block deadlines nodes answer by.
import { booleanParam, type Node, onlyWhere, optionalHexParam, type RpcNamespace } from "./context.ts";
import { RpcError } from "./errors.ts";

const manual = (node: Node) => node.producer.sealing.kind === "manual";

export const engineRpc: RpcNamespace = {
  engine_createBlock: onlyWhere(manual, (node, params) => {
    const createEmpty = booleanParam(params, 0, "createEmpty");
    const finalize = booleanParam(params, 1, "finalize");
    const parentHash = optionalHexParam(params, 2, "parentHash");
    if (parentHash !== undefined && parentHash !== node.chain.head.hash) {
      // This chain has no forks: a block can only extend the best one.
      throw new RpcError(13000, `block to build on not found: ${parentHash} is not the best block`);
    }
    if (!createEmpty && node.pool.ready().length === 0) {
      throw new RpcError(
        12000,
        "Transaction pool is empty, set create_empty to true, if you want to create empty blocks",
      );
    }
    return created(node, node.producer.seal(finalize).hash);
  }),
  engine_finalizeBlock: onlyWhere(manual, (node, params) => {
    const hash = optionalHexParam(params, 0, "hash") ?? node.chain.head.hash;
    const block = node.chain.block(hash);
    if (block === undefined) throw new RpcError(13000, `block not found: ${hash}`);
    node.chain.finalize(block);
    return true;
  }),
};

function created(node: Node, hash: string) {
  return {
    hash,
    aux: {
      headerOnly: false,
      clearJustificationRequests: false,
      needsJustification: false,
      badJustification: false,
      isNewBest: node.chain.head.hash === hash,
    },
  };
}
