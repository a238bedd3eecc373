// Whether a pinpoint game against a `swap-operator` worker landed on the operator the fault
// changed: the node of the disputed step's graph the chain narrowed to (by its index, PROTOCOL.md
// §6.3) against the nodes swapOperator rewrites in the user's model, matched by name (the step
// graph keeps the model's node names for its forward part).
import { swapOperator } from "../worker-runtime/node/swap-operator.ts";
import { onnx } from "../worker-runtime/onnx/proto.ts";
import { stepGraphOf } from "../worker-runtime/train/pinpoint.ts";
import { gamePositions, graphNodes } from "../worker-runtime/train/pinpoint-graphs.ts";

type Run = Parameters<typeof stepGraphOf>[0];

/** Names of the user's nodes the fault computes differently. */
export function swappedNodeNames(model: Uint8Array): Set<string> {
  const encoded = (nodes: ReturnType<typeof graphNodes>) =>
    new Map(nodes.map((n) => [n.name ?? "", Buffer.from(onnx.NodeProto.encode(n).finish()).toString("hex")]));
  const honest = encoded(graphNodes(model));
  const swapped = encoded(graphNodes(swapOperator(model)));
  return new Set([...honest].filter(([name, bytes]) => swapped.get(name) !== bytes).map(([name]) => name));
}

/** The name of position `index` of step `step`'s graph; null for the checkpoint assembly (index N). */
export async function pinpointedNodeName(run: Run, step: number, index: number): Promise<string | null> {
  return gamePositions(await stepGraphOf(run, step))[index]?.node.name ?? null;
}
