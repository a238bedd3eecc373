// The operators a model may use, as GET /v1/training/operators answers and docs/training.md lists
// them: read from the training engine's gradient table, so the list cannot drift from what trains.
import { supportedOperatorTable } from "../../worker-runtime/autodiff/index.ts";

export interface OperatorView {
  op_type: string;
  domain: "ai.onnx";
  since_opset: number;
  until_opset: number;
  differentiable: boolean;
  restrictions: string | null;
}

export function operatorList(): { object: "list"; data: OperatorView[] } {
  return {
    object: "list",
    data: supportedOperatorTable().map((op) => ({
      op_type: op.opType,
      domain: "ai.onnx",
      since_opset: op.sinceOpset,
      until_opset: op.untilOpset,
      differentiable: op.differentiable,
      restrictions: op.restrictions,
    })),
  };
}

/** The Markdown table of docs/training.md's operator section. */
export function operatorTableMarkdown(): string {
  const rows = operatorList().data.map(
    (op) =>
      `| \`${op.op_type}\` | ${op.since_opset}–${op.until_opset} | ${op.differentiable ? "yes" : "no (no gradient flows through it)"} | ${op.restrictions ?? ""} |`,
  );
  return ["| operator | opsets | differentiable | restrictions |", "| --- | --- | --- | --- |", ...rows].join(
    "\n",
  );
}
