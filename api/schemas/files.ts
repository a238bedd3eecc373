import { Type } from "@sinclair/typebox";
import { ErrorResponse, ListQuery, listOf, StringEnum } from "./common.ts";

export const FILE_PURPOSES = ["model", "dataset"] as const;
export type FilePurpose = (typeof FILE_PURPOSES)[number];

export const FilePurposeSchema = StringEnum(FILE_PURPOSES, {
  description: "model: an ONNX inference graph to train; dataset: safetensors, .npy, .npz or CSV",
});

const Shape = Type.Array(Type.Union([Type.Integer(), Type.String()]), {
  description: "Dimensions: numbers when static, names when symbolic (e.g. batch)",
});

const ModelValue = Type.Object({ name: Type.String(), dtype: Type.String(), shape: Shape });

export const ModelDetails = Type.Object(
  {
    opset: Type.Integer({ description: "Default-domain ONNX opset" }),
    inputs: Type.Array(ModelValue, { description: "Graph inputs fed with data (initializers excluded)" }),
    outputs: Type.Array(ModelValue),
    parameters: Type.Array(
      Type.Object({ name: Type.String(), dtype: Type.String(), shape: Type.Array(Type.Integer()) }),
      { description: "Float initializers: what a training job may update" },
    ),
    parameter_count: Type.Integer({ description: "Total elements of the parameters" }),
    operators: Type.Record(Type.String(), Type.Integer(), { description: "Node count per operator type" }),
  },
  { title: "ModelDetails" },
);

const FiniteBound = (which: string) =>
  Type.Union([Type.Number(), Type.Null()], {
    description: `The ${which} finite value; null when none is finite`,
  });

const ValueRange = Type.Object(
  {
    min: FiniteBound("smallest"),
    max: FiniteBound("largest"),
    non_finite: Type.Integer({ description: "How many values are NaN or infinite" }),
  },
  {
    description:
      "The tensor's values in brief, which a quote checks against the model (finite values, class indices inside its classes, token ids inside its embeddings); absent for datasets uploaded before it was recorded",
  },
);

export const DatasetDetails = Type.Object(
  {
    format: StringEnum(["safetensors", "npy", "npz", "csv"]),
    tensors: Type.Array(
      Type.Object({
        name: Type.String(),
        dtype: Type.String(),
        shape: Type.Array(Type.Integer()),
        range: Type.Optional(ValueRange),
      }),
      { description: "Named tensors whose axis 0 indexes samples; a CSV column is a float64 tensor" },
    ),
    sample_count: Type.Union([Type.Integer(), Type.Null()], {
      description:
        "Length of axis 0 shared by every tensor; null when they differ (e.g. train/validation splits)",
    }),
  },
  { title: "DatasetDetails" },
);

export const File = Type.Object(
  {
    id: Type.String({ description: "file_..." }),
    purpose: FilePurposeSchema,
    filename: Type.String(),
    bytes: Type.Integer({ description: "Size in bytes" }),
    sha256: Type.String({ description: "Hex SHA-256 of the content; also the content's ETag" }),
    created_at: Type.String({ format: "date-time" }),
    details: Type.Union([ModelDetails, DatasetDetails], {
      description: "What inspection found: ModelDetails for a model, DatasetDetails for a dataset",
    }),
  },
  { title: "File" },
);

export const DeletedFile = Type.Composite(
  [File, Type.Object({ deleted_at: Type.String({ format: "date-time" }) })],
  { title: "DeletedFile" },
);

export const StorageUsage = Type.Object(
  {
    used_bytes: Type.Integer({ description: "Bytes of the organization's live (not deleted) files" }),
    quota_bytes: Type.Integer({
      description: "The most live files may total; an upload past it answers 413 storage_quota_exceeded",
    }),
  },
  { title: "StorageUsage" },
);

export const FileList = Type.Composite([listOf(File, "FileList"), Type.Object({ storage: StorageUsage })], {
  title: "FileList",
});

export const FileListQuery = Type.Composite(
  [ListQuery, Type.Object({ purpose: Type.Optional(FilePurposeSchema) })],
  { additionalProperties: false },
);

export const FileParams = Type.Object({ id: Type.String({ description: "file_..." }) });

/** Documents the multipart form; it is read and checked while it streams, not by this schema. */
export const UploadForm = Type.Object(
  {
    purpose: FilePurposeSchema,
    file: Type.String({ format: "binary", description: "The content; its filename is kept" }),
  },
  { title: "UploadForm" },
);

export const FileRejected = Type.Object(
  {
    error: Type.Composite([
      Type.Index(ErrorResponse, ["error"]),
      Type.Object({
        unsupported_operators: Type.Optional(
          Type.Array(Type.Object({ op_type: Type.String(), nodes: Type.Array(Type.String()) }), {
            description: "With code unsupported_operators: each operator type and the nodes using it",
          }),
        ),
      }),
    ]),
  },
  {
    title: "FileRejectedError",
    description:
      "422 invalid_model, unsupported_operators or invalid_dataset, with the parser's reason; " +
      "inspection_limit_exceeded when inspecting the file ran past its time or memory limit",
  },
);
