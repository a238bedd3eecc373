// The node gateway's wire format, for node operators' own clients (`@veritrain/sdk/node-protocol`).
export * from "../../protocol/node-wire.ts";
