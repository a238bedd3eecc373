import { Type } from "@sinclair/typebox";

export const TrainingOperator = Type.Object(
  {
    op_type: Type.String({ description: "The ONNX operator type" }),
    domain: Type.Literal("ai.onnx", { description: "Only the default domain is supported" }),
    since_opset: Type.Integer({ description: "The lowest default-domain opset a model may declare" }),
    until_opset: Type.Integer({ description: "The highest default-domain opset a model may declare" }),
    differentiable: Type.Boolean({
      description:
        "False for operators no gradient flows through (Shape, Equal, ArgMax, ...); models may still use them",
    }),
    restrictions: Type.Union([Type.String(), Type.Null()], {
      description: "The configurations the gradient covers, when not all of them",
    }),
  },
  {
    title: "TrainingOperator",
    examples: [
      {
        op_type: "Pad",
        domain: "ai.onnx",
        since_opset: 13,
        until_opset: 21,
        differentiable: true,
        restrictions: "mode=constant only",
      },
    ],
  },
);

export const TrainingOperatorList = Type.Object(
  { object: Type.Literal("list"), data: Type.Array(TrainingOperator) },
  { title: "TrainingOperatorList" },
);
