import { Type } from "@sinclair/typebox";
import { listOf } from "./common.ts";

export const ReceiptKey = Type.Object(
  {
    id: Type.String({ description: "rk_...: a digest of the public key" }),
    algorithm: Type.Literal("ed25519"),
    public_key: Type.String({
      description:
        "The raw 32-byte public key, hex: what a receipt's `body.platform.public_key` names and verifyReceipt's platformPublicKey takes",
    }),
    public_key_pem: Type.String({ description: "The same key as an SPKI PEM" }),
    created_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], {
      description: "When a development stack made the key; null for a key the deployment configured",
    }),
  },
  { title: "ReceiptKey" },
);

export const ReceiptKeyList = listOf(ReceiptKey, "ReceiptKeyList");
