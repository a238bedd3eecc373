import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { answer } from "../schemas/common.ts";
import { TrainingOperatorList } from "../schemas/training-operators.ts";
import { operatorList } from "../services/training-operators.ts";

const trainingOperatorRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    "/v1/training/operators",
    {
      schema: {
        operationId: "listTrainingOperators",
        security: [],
        tags: ["training-jobs"],
        summary: "The ONNX operators a model may use, with their opsets and whether they are differentiable",
        description:
          "Public: check a model before uploading it. An upload using any other operator, or a restricted " +
          "one outside its restrictions, is refused with unsupported_operators naming each.",
        response: { 200: answer("Every supported operator, alphabetically", TrainingOperatorList) },
      },
    },
    async () => operatorList(),
  );
};

export default trainingOperatorRoutes;
