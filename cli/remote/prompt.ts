// Questions the CLI asks on stderr (stdout stays the command's answer), answered with one line of
// stdin: typed at a terminal, or piped by a script. Ended input counts as no answer.
import { createInterface } from "node:readline";

export function ask(question: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: false });
    let answered = false;
    process.stderr.write(question);
    rl.once("line", (line) => {
      answered = true;
      rl.close();
      resolve(line.trim());
    });
    rl.once("close", () => {
      if (!answered) resolve(undefined);
    });
  });
}

export async function confirm(question: string): Promise<boolean> {
  const reply = await ask(`${question} [y/N] `);
  return reply !== undefined && /^y(es)?$/i.test(reply);
}
