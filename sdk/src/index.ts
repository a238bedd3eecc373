export { canonicalBytes, canonicalJson } from "./canonical.ts";
export * from "./client.ts";
export * from "./errors.ts";
export * from "./merkle.ts";
export * from "./receipt.ts";
export * from "./signed-messages.ts";
export type { FetchLike } from "./transport.ts";
export type * from "./types.ts";
