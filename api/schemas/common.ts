import { type TSchema, Type } from "@sinclair/typebox";
import { API_ERROR_CODES } from "../errors.ts";

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      type: Type.String({
        description: "Broad class: invalid_request_error, not_found_error, api_error, ...",
      }),
      code: StringEnum(API_ERROR_CODES, {
        description: "Stable machine-readable code, from a closed catalogue (the SDK exports it)",
      }),
      message: Type.String({ description: "What was wrong, where, and what is accepted" }),
      param: Type.Union([Type.String(), Type.Null()], { description: "The offending parameter, if any" }),
    }),
  },
  { $id: "Error", title: "Error" },
);

/** Standard error responses a route can produce, keyed by status. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((status) => [status, Type.Ref(ErrorResponse)]));
}

export function listOf<T extends TSchema>(item: T, title: string, examples?: unknown[]) {
  return Type.Object(
    { data: Type.Array(item), has_more: Type.Boolean({ description: "More items follow this page" }) },
    { title, ...(examples ? { examples } : {}) },
  );
}

/** A string enum as a plain JSON Schema `enum`, which reads better in OpenAPI and in errors. */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: { description?: string; default?: T[number] } = {},
) {
  return Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...options });
}

/** `limit` and `after` of every list: newest first, `after` = the last id of the previous page. */
export const ListQuery = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: "Page size, 1 to 100" }),
    after: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: "Cursor: the last id of the previous page" }),
    ),
  },
  { additionalProperties: false },
);

/** Turns `limit + 1` fetched rows into one page: the extra row only tells whether more exist. */
export function pageOf<T>(rows: T[], limit: number): { data: T[]; has_more: boolean } {
  return { data: rows.slice(0, limit), has_more: rows.length > limit };
}
