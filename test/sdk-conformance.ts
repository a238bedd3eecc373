// Compile-time proof that the SDK's hand-written types (sdk/src/types.ts, node-protocol.ts,
// receipt.ts) say what the API says. When one side changes alone, `tsc` fails here and names the
// field: "fields the SDK lacks": "price.tax_cents", or the types of 'status' differ. (The error
// codes need no check: both import protocol/api-error-codes.ts.)
// The node gateway's schemas (api/schemas/nodes.ts) mirror protocol/node-wire.ts exactly.
import type { Static } from "@sinclair/typebox";
import type {
  ApiKey,
  ApiKeyWithSecret,
  CreateApiKeyBody,
  LogInBody,
  LogInResult,
  RevokedApiKey,
  SignUpBody,
  SignUpResult,
} from "../api/schemas/accounts.ts";
import type {
  Balance,
  BalanceTransaction,
  CheckoutSession,
  CheckoutSessionBody,
  Payment,
} from "../api/schemas/billing.ts";
import type { ListQuery } from "../api/schemas/common.ts";
import type { DeletedFile, File, FileListQuery } from "../api/schemas/files.ts";
import type * as nodes from "../api/schemas/nodes.ts";
import type { ReceiptKey } from "../api/schemas/receipt-keys.ts";
import type {
  CheckpointList,
  JobCreateRequest,
  JobEvent,
  JobRequest,
  QuoteResponse,
  ReceiptSchema,
  TrainingJob,
} from "../api/schemas/training-jobs.ts";
import type {
  SweepCreateRequest,
  SweepEvent,
  SweepQuote,
  SweepRequest,
  TrainingSweep,
} from "../api/schemas/training-sweeps.ts";
import type {
  CreateWebhookEndpointBody,
  DeletedWebhookEndpoint,
  WebhookDelivery,
  WebhookEndpoint,
  WebhookEndpointWithSecret,
} from "../api/schemas/webhooks.ts";
import type * as node from "../protocol/node-wire.ts";
import type { Receipt } from "../protocol/receipt.ts";
import type * as sdk from "../sdk/src/types.ts";

/** Every field path of a type, nested ones included: "price.total_cents", ... */
type Paths<T> = T extends readonly (infer Item)[]
  ? Paths<Item>
  : T extends object
    ? { [K in keyof T & string]-?: K | `${K}.${Paths<T[K]>}` }[keyof T & string]
    : never;
type Only<A, B> = Exclude<Paths<A>, Paths<B>>;
type Named<Missing, Label extends string> = [Missing] extends [never] ? unknown : { [L in Label]: Missing };
type SameFields<Api, Sdk> = Named<Only<Api, Sdk>, "fields the SDK lacks"> &
  Named<Only<Sdk, Api>, "fields the API lacks">;

/** A response: the API's JSON can be used as the SDK type, and both name the same fields. */
type Answers<Sdk, Api extends Sdk & SameFields<Api, Sdk>> = Api;
/** A request: what the SDK sends is what the API accepts, field for field. */
type Accepts<Api, Sdk extends Api & SameFields<Api, Sdk>> = Sdk;
/** What the wire type may carry that the schema refuses: it must be nothing. */
type Covers<Api, Wire> = [Wire] extends [Api] ? unknown : { "values the schema refuses": Wire };
/** A node gateway schema: both ends are ours, so it is its wire type, field for field, both ways. */
type Mirrors<Wire, Api extends Wire & SameFields<Api, Wire> & Covers<Api, Wire>> = Api;
/** Fields with a default in the schema: required in `Static`, optional to send. */
type Defaulted<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

export type ApiConformance = [
  Answers<sdk.SignUpResult, Static<typeof SignUpResult>>,
  Answers<sdk.LogInResult, Static<typeof LogInResult>>,
  Answers<sdk.ApiKey, Static<typeof ApiKey>>,
  Answers<sdk.ApiKeyWithSecret, Static<typeof ApiKeyWithSecret>>,
  Answers<sdk.RevokedApiKey, Static<typeof RevokedApiKey>>,
  Answers<sdk.Balance, Static<typeof Balance>>,
  Answers<sdk.BalanceTransaction, Static<typeof BalanceTransaction>>,
  Answers<sdk.CheckoutSession, Static<typeof CheckoutSession>>,
  Answers<sdk.Payment, Static<typeof Payment>>,
  Answers<sdk.FileObject, Static<typeof File>>,
  Answers<sdk.DeletedFile, Static<typeof DeletedFile>>,
  Answers<sdk.Quote, Static<typeof QuoteResponse>>,
  Answers<sdk.TrainingJob, Static<typeof TrainingJob>>,
  Answers<sdk.JobEvent, Static<typeof JobEvent>>,
  Answers<sdk.Checkpoint, Static<typeof CheckpointList>["data"][number]>,
  Answers<Receipt, Static<typeof ReceiptSchema>>,
  Answers<sdk.ReceiptKey, Static<typeof ReceiptKey>>,
  Answers<sdk.SweepQuote, Static<typeof SweepQuote>>,
  Answers<sdk.TrainingSweep, Static<typeof TrainingSweep>>,
  Answers<sdk.SweepEvent, Static<typeof SweepEvent>>,
  Answers<sdk.WebhookEndpoint, Static<typeof WebhookEndpoint>>,
  Answers<sdk.WebhookEndpointWithSecret, Static<typeof WebhookEndpointWithSecret>>,
  Answers<sdk.DeletedWebhookEndpoint, Static<typeof DeletedWebhookEndpoint>>,
  Answers<sdk.WebhookDelivery, Static<typeof WebhookDelivery>>,
  Accepts<Static<typeof SignUpBody>, sdk.SignUpParams>,
  Accepts<Static<typeof LogInBody>, sdk.LogInParams>,
  Accepts<Static<typeof CreateApiKeyBody>, sdk.CreateApiKeyParams>,
  Accepts<Static<typeof CheckoutSessionBody>, sdk.CheckoutSessionParams>,
  Accepts<Static<typeof CreateWebhookEndpointBody>, sdk.CreateWebhookEndpointParams>,
  Accepts<Defaulted<Static<typeof JobRequest>, "verification">, sdk.TrainingJobParams>,
  Accepts<Defaulted<Static<typeof JobCreateRequest>, "verification">, sdk.CreateTrainingJobParams>,
  Accepts<Defaulted<Static<typeof SweepRequest>, "verification">, sdk.TrainingSweepParams>,
  Accepts<Defaulted<Static<typeof SweepCreateRequest>, "verification">, sdk.CreateTrainingSweepParams>,
  Accepts<Defaulted<Static<typeof ListQuery>, "limit">, sdk.ListParams>,
  Accepts<Defaulted<Static<typeof FileListQuery>, "limit">, sdk.FileListParams>,
];

export type NodeGatewayConformance = [
  Mirrors<node.NodeInfo, Static<typeof nodes.NodeSchema>>,
  Mirrors<node.Lease, Static<typeof nodes.LeaseSchema>>,
  Mirrors<node.TrainingClaim, Static<typeof nodes.TrainingClaimSchema>>,
  Mirrors<node.AuditClaim, Static<typeof nodes.AuditClaimSchema>>,
  Mirrors<node.CheckpointRef, Static<typeof nodes.StoredCheckpoint>>,
  Mirrors<node.StoredModel, Static<typeof nodes.StoredModel>>,
  Mirrors<node.DisputeEvidenceRef, Static<typeof nodes.DisputeEvidenceRefSchema>>,
  Mirrors<node.Acknowledged, Static<typeof nodes.Acknowledged>>,
  Mirrors<node.RegisterRequest, Static<typeof nodes.RegisterBody>>,
  Mirrors<node.ClaimRequest, Static<typeof nodes.ClaimBody>>,
  Mirrors<node.Progress, Static<typeof nodes.ProgressBody>>,
  Mirrors<node.Completion, Static<typeof nodes.CompleteBody>>,
  Mirrors<node.VerdictReport, Static<typeof nodes.VerdictBody>>,
  Mirrors<node.FailureReport, Static<typeof nodes.FailBody>>,
];
