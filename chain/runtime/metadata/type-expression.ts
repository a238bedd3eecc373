// Parses the SCALE type strings of the pallet format ("Vec<u8>", "[u8; 32]", "(A, B)", ...) into a tree.

export type TypeExpression =
  | { readonly kind: "named"; readonly name: string }
  | {
      readonly kind: "generic";
      readonly name: "Vec" | "Option" | "Compact" | "Result";
      readonly args: TypeExpression[];
    }
  | { readonly kind: "array"; readonly length: number; readonly element: TypeExpression }
  | { readonly kind: "tuple"; readonly elements: TypeExpression[] };

const GENERICS = new Set(["Vec", "Option", "Compact", "Result"]);
const GENERIC_ARITY: Readonly<Record<string, number>> = { Vec: 1, Option: 1, Compact: 1, Result: 2 };

export class TypeExpressionError extends Error {
  readonly code = "InvalidTypeExpression";
}

/** Splits a comma-separated list at the top nesting level. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const char = text[i];
    if (char === "<" || char === "(" || char === "[") depth++;
    else if (char === ">" || char === ")" || char === "]") depth--;
    else if (char === "," && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  const last = text.slice(start);
  if (last.trim() !== "") parts.push(last);
  return parts.map((part) => part.trim());
}

export function parseTypeExpression(source: string): TypeExpression {
  const text = source.trim();
  if (text.startsWith("(") && text.endsWith(")")) {
    return { kind: "tuple", elements: splitTopLevel(text.slice(1, -1)).map(parseTypeExpression) };
  }
  if (text.startsWith("[") && text.endsWith("]")) {
    const inner = text.slice(1, -1);
    const separator = inner.lastIndexOf(";");
    const length = Number(inner.slice(separator + 1).trim());
    if (separator < 0 || !Number.isInteger(length) || length < 0) {
      throw new TypeExpressionError(`type "${source}": a fixed array is written "[T; N]"`);
    }
    return { kind: "array", length, element: parseTypeExpression(inner.slice(0, separator)) };
  }
  const open = text.indexOf("<");
  if (open > 0 && text.endsWith(">")) {
    const name = text.slice(0, open).trim();
    if (!GENERICS.has(name)) {
      throw new TypeExpressionError(
        `type "${source}": generic "${name}" is not one of ${[...GENERICS].join(", ")}`,
      );
    }
    const args = splitTopLevel(text.slice(open + 1, -1)).map(parseTypeExpression);
    if (args.length !== GENERIC_ARITY[name]) {
      throw new TypeExpressionError(
        `type "${source}": ${name} takes ${GENERIC_ARITY[name]} type argument(s)`,
      );
    }
    return { kind: "generic", name: name as "Vec" | "Option" | "Compact" | "Result", args };
  }
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(text)) {
    throw new TypeExpressionError(`type "${source}" is not a valid SCALE type string`);
  }
  return { kind: "named", name: text };
}
