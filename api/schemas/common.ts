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

/** What each error status means across the API, as the document describes the response. */
const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: "The request is invalid: `param` names the field, `message` what is accepted",
  401: "Missing, unknown or expired credentials",
  402: "The available balance is below the price",
  403: "Not allowed: a cookie session without its X-CSRF-Token, or a node without the role",
  404: "No such resource here: unknown, deleted, or another organization's",
  409: "The resource is not in a state that allows this",
  413: "The body is larger than accepted",
  415: "The content type is not accepted here",
  422: "The upload was read but refused",
  429: "Too many attempts: retry after the Retry-After header's seconds",
  503: "A service this needs is not configured or not reachable",
};

/** Standard error responses a route can produce, keyed by status. */
export function errorResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(
    statuses.map((status) => {
      const description = ERROR_DESCRIPTIONS[status];
      if (!description) throw new TypeError(`no description for error status ${status}`);
      // A $ref is resolved before its keywords are read: the description rides beside it.
      return [status, Type.Ref(ErrorResponse, { description })];
    }),
  );
}

/**
 * A response schema with what the response means, for the OpenAPI document; @fastify/swagger
 * reads this keyword and removes it (the serializer ignores it).
 */
export function answer<T extends TSchema>(description: string, schema: T): T {
  return { ...schema, "x-response-description": description };
}

/** Reads accept an API key or the portal's session cookie. */
export const readAccess: { [scheme: string]: string[] }[] = [{ apiKey: [] }, { session: [] }];
/** Changes accept an API key, or the session cookie with its X-CSRF-Token header. */
export const writeAccess: { [scheme: string]: string[] }[] = [{ apiKey: [] }, { session: [], csrfToken: [] }];

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
