import type { Database } from "../../prisma/client.ts";
import type { Prisma } from "../../prisma/generated/client.ts";

/** The client or an open transaction: services accept either so callers can compose them. */
export type DbClient = Database | Prisma.TransactionClient;
