import { Command } from "commander";
import { registerCommands } from "./commands.ts";

const program = new Command("veritrain")
  .description("Train ONNX models on untrusted hardware, with a verification receipt.")
  .showHelpAfterError();
registerCommands(program);
await program.parseAsync(process.argv);
