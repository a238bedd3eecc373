export { canonicalBytes, canonicalJson } from "../../protocol/canonical-json.ts";
export * from "../../protocol/merkle.ts";
export * from "../../protocol/receipt.ts";
export * from "../../protocol/signed-messages.ts";
export * from "./client.ts";
export * from "./error-codes.ts";
export * from "./errors.ts";
export type { FetchLike } from "./transport.ts";
export type * from "./types.ts";
