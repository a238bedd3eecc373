// The API's error codes (`VeritrainError.code`), so a client can switch on them.
export { API_ERROR_CODES, type ApiErrorCode, isApiErrorCode } from "../../protocol/api-error-codes.ts";
