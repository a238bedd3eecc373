// Builds the scale-info portable type registry (the `lookup` of metadata V14) from type strings.
import type { ScaleType } from "../pallet.ts";
import { parseTypeExpression, type TypeExpression, TypeExpressionError } from "./type-expression.ts";

export type FieldSpec = {
  readonly name?: string;
  readonly type: ScaleType | number;
  readonly typeName?: string;
};
export type VariantSpec = {
  readonly name: string;
  readonly index: number;
  readonly fields: readonly FieldSpec[];
  readonly docs?: readonly string[];
};
export type ShapeSpec =
  | { readonly composite: readonly FieldSpec[] }
  | { readonly variant: readonly VariantSpec[] };

/** A type with a Rust path: its shape may refer back to itself (RuntimeCall ↔ Sudo's call). */
export type NamedTypeSpec = {
  readonly path: readonly string[];
  readonly params?: readonly { readonly name: string; readonly type: ScaleType | number | null }[];
  readonly shape: ShapeSpec | (() => ShapeSpec);
  readonly docs?: readonly string[];
};

/** The names a type string may use: the pallet's own types first, then the runtime's shared ones. */
export type TypeScope = { readonly name: string; readonly types: Readonly<Record<string, NamedTypeSpec>> };

type SiField = { name: string | null; type: number; typeName: string | null; docs: string[] };
type SiDef =
  | { Composite: { fields: SiField[] } }
  | { Variant: { variants: { name: string; fields: SiField[]; index: number; docs: string[] }[] } }
  | { Sequence: { type: number } }
  | { Array: { len: number; type: number } }
  | { Tuple: number[] }
  | { Primitive: string }
  | { Compact: { type: number } };
export type PortableType = {
  id: number;
  type: { path: string[]; params: { name: string; type: number | null }[]; def: SiDef; docs: string[] };
};

const PRIMITIVES: Readonly<Record<string, string>> = {
  bool: "Bool",
  char: "Char",
  str: "Str",
  Text: "Str",
  String: "Str",
  u8: "U8",
  u16: "U16",
  u32: "U32",
  u64: "U64",
  u128: "U128",
  u256: "U256",
  i8: "I8",
  i16: "I16",
  i32: "I32",
  i64: "I64",
  i128: "I128",
  i256: "I256",
};

export class UnknownTypeError extends Error {
  readonly code = "UnknownType";
}

export function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
}

export class PortableTypeBuilder {
  readonly types: PortableType[] = [];
  readonly #byKey = new Map<string, number>();
  readonly #byScopedString = new Map<string, number>();

  constructor(
    readonly shared: Readonly<Record<string, NamedTypeSpec>>,
    /** Names that stand for a type string, like Rust type aliases (DispatchResult). */
    readonly aliases: Readonly<Record<string, ScaleType>>,
  ) {}

  /** The lookup id of a type string as seen from a scope (memoised per scope and string). */
  resolve(type: ScaleType | number, scope: TypeScope): number {
    if (typeof type === "number") return type;
    const scoped = `${scope.name}|${type}`;
    const known = this.#byScopedString.get(scoped);
    if (known !== undefined) return known;
    let id: number;
    try {
      id = this.#resolveExpression(parseTypeExpression(type), scope);
    } catch (error) {
      if (error instanceof TypeExpressionError || error instanceof UnknownTypeError) {
        throw new UnknownTypeError(`${scope.name}: ${error.message}`);
      }
      throw error;
    }
    this.#byScopedString.set(scoped, id);
    return id;
  }

  /** The id a type string was given when the metadata was built, for encoding at run time. */
  lookup(type: ScaleType, scope: string): number | undefined {
    return this.#byScopedString.get(`${scope}|${type}`);
  }

  #resolveExpression(expression: TypeExpression, scope: TypeScope): number {
    switch (expression.kind) {
      case "tuple": {
        const ids = expression.elements.map((element) => this.#resolveExpression(element, scope));
        return this.#anonymous(`tuple:${ids.join(",")}`, { Tuple: ids });
      }
      case "array": {
        const id = this.#resolveExpression(expression.element, scope);
        return this.#anonymous(`array:${expression.length}:${id}`, {
          Array: { len: expression.length, type: id },
        });
      }
      case "generic":
        return this.#resolveGeneric(expression.name, expression.args, scope);
      case "named":
        return this.#resolveName(expression.name, scope);
    }
  }

  #resolveGeneric(
    name: "Vec" | "Option" | "Compact" | "Result",
    args: TypeExpression[],
    scope: TypeScope,
  ): number {
    const ids = args.map((arg) => this.#resolveExpression(arg, scope));
    const [first, second] = ids as [number, number];
    if (name === "Vec") return this.#anonymous(`vec:${first}`, { Sequence: { type: first } });
    if (name === "Compact") return this.#anonymous(`compact:${first}`, { Compact: { type: first } });
    if (name === "Option") {
      return this.#anonymous(
        `option:${first}`,
        {
          Variant: {
            variants: [
              { name: "None", fields: [], index: 0, docs: [] },
              { name: "Some", fields: [field(undefined, first)], index: 1, docs: [] },
            ],
          },
        },
        ["Option"],
        [{ name: "T", type: first }],
      );
    }
    return this.#anonymous(
      `result:${first}:${second}`,
      {
        Variant: {
          variants: [
            { name: "Ok", fields: [field(undefined, first)], index: 0, docs: [] },
            { name: "Err", fields: [field(undefined, second)], index: 1, docs: [] },
          ],
        },
      },
      ["Result"],
      [
        { name: "T", type: first },
        { name: "E", type: second },
      ],
    );
  }

  #resolveName(name: string, scope: TypeScope): number {
    const primitive = PRIMITIVES[name];
    if (primitive !== undefined) return this.#anonymous(`prim:${primitive}`, { Primitive: primitive });
    if (name === "Bytes") return this.#resolveGeneric("Vec", [{ kind: "named", name: "u8" }], scope);
    const alias = this.aliases[name];
    if (alias !== undefined) return this.#resolveExpression(parseTypeExpression(alias), scope);
    const local = scope.types[name];
    if (local !== undefined) return this.#named(`${scope.name}::${name}`, local, scope);
    const shared = this.shared[name];
    if (shared !== undefined) return this.#named(`::${name}`, shared, { name: "", types: {} });
    throw new UnknownTypeError(
      `unknown type "${name}"; use a primitive, Bytes, a type of this pallet (${Object.keys(scope.types).join(", ") || "none"}) or a shared one (${Object.keys(this.shared).join(", ")})`,
    );
  }

  #named(key: string, spec: NamedTypeSpec, scope: TypeScope): number {
    const known = this.#byKey.get(key);
    if (known !== undefined) return known;
    const id = this.types.length;
    const entry: PortableType = {
      id,
      type: { path: [...spec.path], params: [], def: { Tuple: [] }, docs: [...(spec.docs ?? [])] },
    };
    this.types.push(entry);
    this.#byKey.set(key, id);
    entry.type.params = (spec.params ?? []).map((param) => ({
      name: param.name,
      type: param.type === null ? null : this.resolve(param.type, scope),
    }));
    const shape = typeof spec.shape === "function" ? spec.shape() : spec.shape;
    entry.type.def =
      "composite" in shape
        ? { Composite: { fields: shape.composite.map((f) => this.#field(f, scope)) } }
        : {
            Variant: {
              variants: shape.variant.map((variant) => ({
                name: variant.name,
                index: variant.index,
                fields: variant.fields.map((f) => this.#field(f, scope)),
                docs: [...(variant.docs ?? [])],
              })),
            },
          };
    return id;
  }

  #field(spec: FieldSpec, scope: TypeScope): SiField {
    const typeName = spec.typeName ?? (typeof spec.type === "string" ? spec.type : undefined);
    return field(spec.name, this.resolve(spec.type, scope), typeName);
  }

  #anonymous(
    key: string,
    def: SiDef,
    path: string[] = [],
    params: { name: string; type: number | null }[] = [],
  ): number {
    const known = this.#byKey.get(key);
    if (known !== undefined) return known;
    const id = this.types.length;
    this.types.push({ id, type: { path, params, def, docs: [] } });
    this.#byKey.set(key, id);
    return id;
  }
}

function field(name: string | undefined, type: number, typeName?: string): SiField {
  return { name: name ?? null, type, typeName: typeName ?? null, docs: [] };
}
