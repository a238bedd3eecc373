// Whether a pinpoint game against a `swap-operator` worker landed on the operator the fault
// changed: the node of the disputed step's graph the chain narrowed to (by its index, PROTOCOL.md
// §6.3), named as the user's model names the node it computes, against the nodes swapOperator
// rewrites in the user's model. Shared by the e2e tests and bench:fraud.
import { stepGraphOf } from "../../worker-runtime/train/pinpoint.ts";
import { gamePositions, modelNodeName } from "../../worker-runtime/train/pinpoint-graphs.ts";

type Run = Parameters<typeof stepGraphOf>[0];

/**
 * The name of the user's node that position `index` of step `step`'s graph computes (onnxruntime's
 * fusion names undone); null for the checkpoint assembly (index N).
 */
export async function pinpointedNodeName(run: Run, step: number, index: number): Promise<string | null> {
  const position = gamePositions(await stepGraphOf(run, step))[index];
  return position ? modelNodeName(position.node.name ?? "") : null;
}
