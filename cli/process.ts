// Process plumbing shared by the long-running commands: one shutdown on SIGTERM/SIGINT, and a
// clear one-line message (with the error's code) instead of a stack trace for expected failures.

/** Runs `stop` once on the first SIGTERM or SIGINT, then exits; a second signal exits at once. */
export function onShutdown(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`\n${signal} received, shutting down (in-flight work finishes first)\n`);
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`shutdown failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", handler);
  process.once("SIGINT", handler);
}

/** Prints an expected failure as `error [CODE]: message` and exits non-zero. */
export function fail(error: unknown): never {
  const code = typeof error === "object" && error && "code" in error ? String(error.code) : undefined;
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`error${code ? ` [${code}]` : ""}: ${message}\n`);
  process.exit(1);
}
