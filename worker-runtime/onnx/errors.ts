/** Every way an uploaded ONNX model can be refused; the API maps these to 4xx answers. */
export type OnnxErrorCode =
  | "INVALID_PROTOBUF"
  | "INVALID_MODEL"
  | "UNSUPPORTED_OPSET"
  | "UNSUPPORTED_OPERATOR"
  | "UNSUPPORTED_DTYPE"
  | "EXTERNAL_DATA"
  | "SHAPE_MISMATCH"
  | "UNKNOWN_TENSOR"
  /** Well formed, but larger than the loader accepts (ModelLimits). */
  | "LIMIT_EXCEEDED"
  /** A node whose cost cannot be known before running: no FLOP rule, or a run-time size. */
  | "UNPRICEABLE";

export class OnnxError extends Error {
  readonly code: OnnxErrorCode;
  /** The node or tensor the problem was found at, when there is one. */
  readonly where: string | undefined;

  constructor(code: OnnxErrorCode, message: string, where?: string) {
    super(where === undefined ? message : `${where}: ${message}`);
    this.name = "OnnxError";
    this.code = code;
    this.where = where;
  }
}
