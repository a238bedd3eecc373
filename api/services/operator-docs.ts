// The operator section of docs/training.md: the generated table sits between two markers.
import { operatorTableMarkdown } from "./training-operators.ts";

const BEGIN = "<!-- operators:begin (npm run docs:operators) -->";
const END = "<!-- operators:end -->";

/** `markdown` with its operator table replaced by the current one. */
export function withOperatorTable(markdown: string): string {
  const begin = markdown.indexOf(BEGIN);
  const end = markdown.indexOf(END);
  if (begin < 0 || end < begin) throw new Error(`docs/training.md lacks the markers ${BEGIN} ... ${END}`);
  return `${markdown.slice(0, begin)}${BEGIN}\n${operatorTableMarkdown()}\n${markdown.slice(end)}`;
}
