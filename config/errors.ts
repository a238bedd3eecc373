export type ConfigErrorCode =
  | "INVALID_PORT"
  | "INVALID_URL"
  | "INVALID_RATE"
  | "INVALID_LIMIT"
  | "INVALID_FLAG"
  | "INVALID_DURATION"
  | "INVALID_PLATFORM_KEY"
  | "INVALID_NODE_SEED"
  | "UNSAFE_PRODUCTION_CONFIG"
  | "REDIS_MISSING"
  | "SERVICE_START_FAILED";

/** A configuration or environment problem that stops start-up, with a code and a remedy. */
export class ConfigError extends Error {
  constructor(
    readonly code: ConfigErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}
