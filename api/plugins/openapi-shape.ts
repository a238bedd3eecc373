// What @fastify/swagger writes, made into a document that client generators read well: every
// schema with a title becomes a named component referenced with $ref (one type per name in a
// generated client, instead of an inline type per use), fields the server fills in are not
// required of callers, and every JSON request and response carries an example. It refuses to
// produce a document with an undescribed response or two different schemas under one name.
import type { API_ERROR_CODES } from "../errors.ts";

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options"] as const;

interface Operation {
  method: string;
  path: string;
  body: Json;
}

function operationsOf(document: Json): Operation[] {
  const found: Operation[] = [];
  for (const [path, item] of Object.entries((document.paths as Json | undefined) ?? {})) {
    for (const method of METHODS) {
      const body = (item as Json)[method];
      if (!isObject(body)) continue;
      // A route declared for GET and HEAD shares one object between them: each gets its own.
      const own = method === "head" ? structuredClone(body) : body;
      (item as Json)[method] = own;
      found.push({ method, path, body: own });
    }
  }
  return found;
}

function mediaTypesOf(container: unknown): Json[] {
  if (!isObject(container) || !isObject(container.content)) return [];
  return Object.values(container.content).filter(isObject);
}

/** Sub-schemas of a schema, wherever JSON Schema nests them, with a way to replace each. */
function children(schema: Json): [unknown, (replacement: Json) => void][] {
  const found: [unknown, (replacement: Json) => void][] = [];
  if (isObject(schema.properties)) {
    const properties = schema.properties;
    for (const key of Object.keys(properties)) {
      found.push([
        properties[key],
        (r) => {
          properties[key] = r;
        },
      ]);
    }
  }
  for (const key of ["items", "additionalProperties", "not"]) {
    if (!isObject(schema[key])) continue;
    found.push([
      schema[key],
      (r) => {
        schema[key] = r;
      },
    ]);
  }
  for (const key of ["anyOf", "oneOf", "allOf", "prefixItems"]) {
    const list = schema[key];
    if (!Array.isArray(list)) continue;
    for (const [i, item] of list.entries()) {
      found.push([
        item,
        (r) => {
          list[i] = r;
        },
      ]);
    }
  }
  return found;
}

/** Request fields with a default are filled in by the server: a caller may leave them out. */
function releaseDefaults(schema: unknown): void {
  if (!isObject(schema)) return;
  if (Array.isArray(schema.required) && isObject(schema.properties)) {
    const properties = schema.properties;
    const required = schema.required.filter((name) => {
      const property = properties[name as string];
      return !(isObject(property) && "default" in property);
    });
    if (required.length > 0) schema.required = required;
    else delete schema.required;
  }
  for (const [child] of children(schema)) releaseDefaults(child);
}

function releaseRequestDefaults(operation: Operation): void {
  const parameters = operation.body.parameters;
  if (Array.isArray(parameters)) {
    for (const parameter of parameters.filter(isObject)) {
      if (isObject(parameter.schema) && "default" in parameter.schema) delete parameter.required;
    }
  }
  for (const media of mediaTypesOf(operation.body.requestBody)) releaseDefaults(media.schema);
}

/** Equal but for the annotations a use may add or drop (examples, description). */
function sameShape(a: Json, b: Json): boolean {
  const { examples: _a1, description: _a2, ...restA } = a;
  const { examples: _b1, description: _b2, ...restB } = b;
  return JSON.stringify(restA) === JSON.stringify(restB);
}

class Components {
  constructor(private readonly schemas: Json) {}

  /** The schema with every titled sub-schema (and itself, unless `keep`) replaced by a $ref. */
  hoist(schema: unknown, keep = false): unknown {
    if (!isObject(schema)) return schema;
    normalizeTuple(schema);
    for (const [child, replace] of children(schema)) {
      const hoisted = this.hoist(child);
      if (hoisted !== child) replace(hoisted as Json);
    }
    if (keep || typeof schema.title !== "string") return schema;
    const name = schema.title.replace(/[^A-Za-z0-9._-]/g, "");
    const existing = this.schemas[name];
    if (isObject(existing) && sameShape(existing, schema)) {
      // The same schema; @fastify/swagger moves a response's top-level examples to its media type.
      if (!("examples" in existing) && "examples" in schema) this.schemas[name] = schema;
      return { $ref: `#/components/schemas/${name}` };
    }
    if (existing !== undefined) {
      throw new Error(
        `two different schemas are titled "${name}": give one another title\n` +
          `${JSON.stringify(existing)}\n${JSON.stringify(schema)}`,
      );
    }
    this.schemas[name] = schema;
    return { $ref: `#/components/schemas/${name}` };
  }

  resolve(schema: unknown): unknown {
    if (isObject(schema) && typeof schema.$ref === "string") {
      return this.resolve(this.schemas[schema.$ref.replace("#/components/schemas/", "")]);
    }
    return schema;
  }
}

const EXAMPLE_TIME = "2026-12-04T16:00:00.000Z";

/** Values for the patterns the schemas use; a new pattern needs an entry or an example of its own. */
const PATTERN_EXAMPLES: Readonly<Record<string, string>> = {
  "^[0-9a-f]{64}$": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
  "^0x[0-9a-fA-F]{128}$": `0x${"3c".repeat(64)}`,
  "^0x[0-9a-fA-F]{64}$": `0x${"5e".repeat(32)}`,
  "^[0-9]{1,20}$": "42",
  "^https?://": "https://example.com/billing/done",
};

function sampleString(schema: Json): string | undefined {
  if (schema.format === "date-time") return EXAMPLE_TIME;
  if (schema.format === "email") return "ada@example.com";
  if (schema.format === "uri") return "https://example.com/billing/done";
  if (schema.format === "binary") return "<binary>";
  if (typeof schema.pattern === "string") {
    const example = PATTERN_EXAMPLES[schema.pattern];
    if (example === undefined) {
      throw new Error(
        `no example for the pattern ${schema.pattern}: add one to the schema or PATTERN_EXAMPLES`,
      );
    }
    return example;
  }
  const minLength = typeof schema.minLength === "number" ? schema.minLength : 0;
  return "string".padEnd(minLength, "-");
}

/** Draft-07 tuples (TypeBox's) in the 2020-12 form OpenAPI 3.1 reads: prefixItems. */
function normalizeTuple(schema: Json): void {
  if (!Array.isArray(schema.items)) return;
  schema.prefixItems = schema.items;
  if (schema.additionalItems === false) schema.items = false;
  else delete schema.items;
  delete schema.additionalItems;
}

/** A value that fits `schema`, from its own examples and defaults where it has them. */
function sample(schema: unknown, components: Components, depth = 0): unknown {
  const resolved = components.resolve(schema);
  if (!isObject(resolved) || depth > 40) return undefined;
  if (Array.isArray(resolved.examples) && resolved.examples.length > 0) return resolved.examples[0];
  if ("example" in resolved) return resolved.example;
  if ("const" in resolved) return resolved.const;
  if ("default" in resolved) return resolved.default;
  if (Array.isArray(resolved.enum)) return resolved.enum[0];
  for (const key of ["anyOf", "oneOf"]) {
    const options = resolved[key];
    if (Array.isArray(options)) {
      const concrete = options.find((option) => !(isObject(option) && option.type === "null"));
      return sample(concrete ?? options[0], components, depth + 1);
    }
  }
  if (Array.isArray(resolved.allOf)) {
    return Object.assign({}, ...resolved.allOf.map((part) => sample(part, components, depth + 1)));
  }
  const type = Array.isArray(resolved.type) ? resolved.type.find((t) => t !== "null") : resolved.type;
  switch (type) {
    case "object": {
      const out: Json = {};
      const required = new Set(Array.isArray(resolved.required) ? resolved.required : []);
      for (const [name, property] of Object.entries(
        isObject(resolved.properties) ? resolved.properties : {},
      )) {
        if (required.has(name) || depth < 2) out[name] = sample(property, components, depth + 1);
      }
      return out;
    }
    case "array":
      return resolved.items === undefined ? [] : [sample(resolved.items, components, depth + 1)];
    case "integer":
    case "number":
      return typeof resolved.minimum === "number" ? resolved.minimum : 1;
    case "boolean":
      return true;
    case "null":
      return null;
    case "string":
      return sampleString(resolved);
    default:
      // No type: any value is accepted.
      return {};
  }
}

/** The error an operation answers with each status, as a client would see it. */
const ERROR_EXAMPLES: Readonly<
  Record<string, readonly [string, (typeof API_ERROR_CODES)[number], string, string | null]>
> = {
  "400": [
    "invalid_request_error",
    "parameter_invalid",
    "Invalid body field 'limit': must be <= 100",
    "limit",
  ],
  "401": [
    "authentication_error",
    "missing_credentials",
    "Authenticate with `Authorization: Bearer vt_...`",
    null,
  ],
  "402": ["payment_error", "insufficient_credits", "The job costs 1250 cents; 300 are available", null],
  "403": [
    "permission_error",
    "csrf_token_invalid",
    "A request authenticated by the session cookie must send X-CSRF-Token",
    null,
  ],
  "404": [
    "not_found_error",
    "resource_missing",
    "No such training job: 'job_01jefm0c9x7t2b6q8r4k3n5v1w'",
    "id",
  ],
  "409": ["invalid_request_error", "job_not_cancellable", "The job has already succeeded", null],
  "413": [
    "invalid_request_error",
    "file_too_large",
    "The file is larger than the 1073741824 bytes accepted",
    "file",
  ],
  "415": [
    "invalid_request_error",
    "unsupported_media_type",
    "Content type 'text/plain' is not accepted here",
    null,
  ],
  "422": ["invalid_request_error", "invalid_model", "The model is not a valid ONNX graph: no graph", "file"],
  "429": ["rate_limit_error", "rate_limited", "Too many attempts; retry in 60 seconds", null],
  "503": ["api_error", "stripe_not_configured", "Payments are not configured: set STRIPE_SECRET_KEY", null],
};

function addExamples(operation: Operation, components: Components): void {
  for (const media of mediaTypesOf(operation.body.requestBody)) {
    if (!("example" in media)) {
      const example = sample(media.schema, components);
      if (example !== undefined) media.example = example;
    }
  }
  for (const [status, response] of Object.entries((operation.body.responses as Json | undefined) ?? {})) {
    for (const media of mediaTypesOf(response)) {
      if ("example" in media) continue;
      const error = ERROR_EXAMPLES[status];
      const isError = isObject(media.schema) && media.schema.$ref === "#/components/schemas/Error";
      const example =
        isError && error
          ? { error: { type: error[0], code: error[1], message: error[2], param: error[3] } }
          : sample(media.schema, components);
      if (example !== undefined) media.example = example;
    }
  }
}

export function shapeDocument(document: Json): Json {
  const components = ((document.components as Json | undefined) ?? {}) as Json;
  document.components = components;
  const schemas = (components.schemas ?? {}) as Json;
  components.schemas = schemas;
  const named = new Components(schemas);
  for (const [name, schema] of Object.entries(schemas)) schemas[name] = named.hoist(schema, true);
  const undescribed: string[] = [];
  for (const operation of operationsOf(document)) {
    // A HEAD declared with its GET is named after it, with its own verb.
    if (operation.method === "head" && typeof operation.body.operationId === "string") {
      operation.body.operationId = operation.body.operationId.replace(/^[a-z]+/, "head");
    }
    releaseRequestDefaults(operation);
    const parameters = operation.body.parameters;
    if (Array.isArray(parameters))
      for (const parameter of parameters.filter(isObject)) parameter.schema = named.hoist(parameter.schema);
    for (const media of mediaTypesOf(operation.body.requestBody)) media.schema = named.hoist(media.schema);
    for (const [status, response] of Object.entries((operation.body.responses as Json | undefined) ?? {})) {
      if (isObject(response) && response.description === "Default Response") {
        undescribed.push(`${operation.method.toUpperCase()} ${operation.path} ${status}`);
      }
      for (const media of mediaTypesOf(response)) media.schema = named.hoist(media.schema);
    }
    addExamples(operation, named);
  }
  if (undescribed.length > 0) {
    throw new Error(
      `responses without a description (wrap the schema in answer()):\n  ${undescribed.join("\n  ")}`,
    );
  }
  return document;
}
