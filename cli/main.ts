import { Command, CommanderError } from "commander";
import { registerCommands } from "./commands.ts";
import { EXIT } from "./remote/output.ts";

const program = new Command("veritrain")
  .description("Train ONNX models on untrusted hardware, with a verification receipt.")
  .showHelpAfterError()
  .exitOverride();
await registerCommands(program, process.argv[2]);
try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Commander has printed its message; a usage error exits 2 like the commands' own (docs/cli.md).
  if (!(error instanceof CommanderError)) throw error;
  process.exitCode = error.exitCode === 0 ? 0 : EXIT.usage;
}
