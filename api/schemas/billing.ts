import { Type } from "@sinclair/typebox";
import { listOf, StringEnum } from "./common.ts";

export const Balance = Type.Object(
  {
    available_cents: Type.Integer({ description: "Credits free to spend, in US cents" }),
    reserved_cents: Type.Integer({ description: "Credits held for running jobs, in US cents" }),
  },
  { title: "Balance" },
);

export const BalanceTransaction = Type.Object(
  {
    id: Type.String({ description: "txn_..." }),
    type: StringEnum(["top_up", "reservation", "release", "charge", "refund", "dispute"]),
    description: Type.String(),
    available_change_cents: Type.Integer({ description: "Change to available credits" }),
    reserved_change_cents: Type.Integer({ description: "Change to reserved credits" }),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "BalanceTransaction" },
);

export const BalanceTransactionList = listOf(BalanceTransaction, "BalanceTransactionList");
