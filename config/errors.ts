/** A configuration or environment problem that stops start-up, with a code and a remedy. */
export class ConfigError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ConfigError";
  }
}
