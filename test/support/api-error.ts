// Asserts a response is the API's one error shape with the expected status and code. The code is
// typed as the catalogue's, so every error the suite expects is also one the API publishes.
import assert from "node:assert/strict";
import type { ApiErrorCode } from "../../api/errors.ts";

interface InjectedResponse {
  statusCode: number;
  body: string;
}

export interface ApiErrorFields {
  type: string;
  code: string;
  message: string;
  param: string | null;
}

export function expectApiError(res: InjectedResponse, status: number, code: ApiErrorCode): ApiErrorFields {
  assert.equal(res.statusCode, status, `expected ${status} ${code}, got ${res.statusCode}: ${res.body}`);
  const body = JSON.parse(res.body) as { error: ApiErrorFields };
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  assert.equal(body.error.code, code, body.error.message);
  assert.ok(body.error.message.length > 0);
  return body.error;
}
