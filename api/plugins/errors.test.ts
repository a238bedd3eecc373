import assert from "node:assert/strict";
import { test } from "node:test";
import { API_ERROR_CODES, ApiError } from "../errors.ts";
import { DOMAIN_ERROR_CODES, DomainError, NotFoundError } from "../services/domain-errors.ts";
import { FileRejectedError } from "../services/inspection/rejection.ts";
import { InsufficientFundsError } from "../services/ledger.ts";
import { toApiError } from "./errors.ts";

class Refusal extends DomainError {}

const catalogued = (code: string) => (API_ERROR_CODES as readonly string[]).includes(code);

test("every domain error code answers a catalogued API code with a client or unavailable status", () => {
  for (const code of DOMAIN_ERROR_CODES) {
    const answer = toApiError(new Refusal(code, `refused: ${code}`, "field"));
    assert.ok(catalogued(answer.code), `${code} answers ${answer.code}`);
    assert.ok((answer.statusCode >= 400 && answer.statusCode < 500) || answer.statusCode === 503, code);
    assert.equal(answer.message, `refused: ${code}`);
    assert.equal(answer.param, "field");
  }
});

test("the services' refusals answer with the API's status, type and code", () => {
  const short = toApiError(new InsufficientFundsError(51n, 50n));
  assert.deepEqual(
    [short.statusCode, short.type, short.code],
    [402, "payment_error", "insufficient_credits"],
  );
  assert.match(short.message, /needs 51 cents of credits but 50 are available/);

  const missing = toApiError(new NotFoundError("training job", "job_x", "id"));
  assert.deepEqual(missing.toBody(), {
    error: {
      type: "not_found_error",
      code: "resource_missing",
      message: "No such training job: 'job_x'",
      param: "id",
    },
  });

  const unconfigured = toApiError(new Refusal("payments_not_configured", "set STRIPE_SECRET_KEY"));
  assert.deepEqual([unconfigured.statusCode, unconfigured.code], [503, "stripe_not_configured"]);
});

test("a rejected model's unsupported operators are fields of the error, and only when there are some", () => {
  const operators = [{ op_type: "Sin", nodes: ["wave"] }];
  const unsupported = toApiError(new FileRejectedError("unsupported_operators", "no Sin", operators));
  assert.equal(unsupported.statusCode, 422);
  assert.deepEqual(unsupported.toBody().error, {
    type: "invalid_request_error",
    code: "unsupported_operators",
    message: "no Sin",
    param: "file",
    unsupported_operators: operators,
  });
  const invalid = toApiError(new FileRejectedError("invalid_model", "not ONNX"));
  assert.deepEqual(Object.keys(invalid.toBody().error).sort(), ["code", "message", "param", "type"]);
});

test("Fastify's errors answer catalogued codes, and anything else is an internal error that tells nothing", () => {
  const json = toApiError(
    Object.assign(new Error("Unexpected end"), { code: "FST_ERR_CTP_INVALID_JSON_BODY" }),
  );
  assert.deepEqual([json.statusCode, json.code], [400, "invalid_json"]);

  const other = Object.assign(new Error("the multipart boundary is missing"), {
    code: "FST_INVALID_MULTIPART_CONTENT_TYPE",
    statusCode: 406,
  });
  const answered = toApiError(other);
  assert.deepEqual(
    [answered.statusCode, answered.code, answered.message],
    [406, "bad_request", other.message],
  );

  const bug = toApiError(new TypeError("cannot read properties of undefined"));
  assert.deepEqual([bug.statusCode, bug.type, bug.code], [500, "api_error", "internal_error"]);
  assert.doesNotMatch(bug.message, /undefined/);
  assert.equal(toApiError("thrown as a string").code, "internal_error");

  const ours = ApiError.badRequest("parameter_invalid", "bad", "x");
  assert.equal(toApiError(ours), ours);
});
