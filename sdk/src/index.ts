export { canonicalBytes, canonicalJson } from "./canonical.ts";
export * from "./merkle.ts";
export * from "./receipt.ts";
export * from "./signed-messages.ts";
