import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { answer } from "../schemas/common.ts";
import { ReceiptKeyList } from "../schemas/receipt-keys.ts";
import type { Receipts } from "../services/receipts.ts";

export interface ReceiptKeyRoutesOptions {
  receipts: Receipts;
}

const receiptKeyRoutes: FastifyPluginAsyncTypebox<ReceiptKeyRoutesOptions> = async (app, { receipts }) => {
  app.get(
    "/v1/receipt-keys",
    {
      schema: {
        operationId: "listReceiptKeys",
        security: [],
        tags: ["receipt-keys"],
        summary:
          "The platform's published Ed25519 public keys that sign receipts: verify receipts against these",
        description:
          "Public, without authentication, so anyone holding a receipt can check who signed it. " +
          "Verify against a key obtained here (or pinned from here earlier), never against the key a receipt names.",
        response: { 200: answer("The keys, current and retired", ReceiptKeyList) },
      },
    },
    async () => receipts.publishedKeys(),
  );
};

export default receiptKeyRoutes;
