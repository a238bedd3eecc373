import type { Dim } from "./model.ts";

// Symbolic dimensions are kept as canonical products: "4*batch*seq". Equal products print equally, so
// a Reshape to (batch, -1) of a (batch, 3, 4) tensor infers 12 without knowing the batch size.

interface Product {
  coefficient: number;
  symbols: string[];
}

function parse(dim: Dim): Product {
  if (typeof dim === "number") return { coefficient: dim, symbols: [] };
  let coefficient = 1;
  const symbols: string[] = [];
  for (const part of dim.split("*")) {
    const n = Number(part);
    if (part !== "" && Number.isFinite(n)) coefficient *= n;
    else symbols.push(part);
  }
  return { coefficient, symbols: symbols.sort() };
}

function format(p: Product): Dim {
  if (p.symbols.length === 0) return p.coefficient;
  return [...(p.coefficient === 1 ? [] : [String(p.coefficient)]), ...p.symbols].join("*");
}

export function dimProduct(dims: readonly Dim[]): Dim {
  const parts = dims.map(parse);
  return format({
    coefficient: parts.reduce((a, p) => a * p.coefficient, 1),
    symbols: parts.flatMap((p) => p.symbols).sort(),
  });
}

/** a / b when it divides exactly; undefined when the symbols do not cancel. */
export function dimQuotient(a: Dim, b: Dim): Dim | undefined {
  const pa = parse(a);
  const pb = parse(b);
  const symbols = [...pa.symbols];
  for (const s of pb.symbols) {
    const at = symbols.indexOf(s);
    if (at < 0) return undefined;
    symbols.splice(at, 1);
  }
  if (pb.coefficient === 0 || pa.coefficient % pb.coefficient !== 0) return undefined;
  return format({ coefficient: pa.coefficient / pb.coefficient, symbols });
}

export function dimSum(dims: readonly Dim[]): Dim {
  if (dims.every((d) => typeof d === "number")) return (dims as number[]).reduce((a, b) => a + b, 0);
  const nonZero = dims.filter((d) => d !== 0);
  return nonZero.length === 1 ? nonZero[0]! : `(${nonZero.join("+")})`;
}

/** numpy broadcasting of two dims; two different symbols are assumed equal (the runtime checks). */
function broadcastDim(a: Dim, b: Dim): Dim {
  if (a === 1) return b;
  if (b === 1) return a;
  if (typeof a === "number") return a;
  return b === a || typeof b === "string" ? a : b;
}

export function broadcastShapes(shapes: readonly (readonly Dim[])[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[s.length - rank + i];
      if (d !== undefined) dim = broadcastDim(dim, d);
    }
    out.push(dim);
  }
  return out;
}

export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}
