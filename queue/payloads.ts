// What a queued task carries. The jobs service produces the work items of the node wire format
// (protocol/node-wire.ts) and the gateway hands them to the node that claims them as they are.
import type { AuditTask, CheckpointRef, TrainingTask } from "../protocol/node-wire.ts";

export interface TaskPayloads {
  training: TrainingTask;
  audit: AuditTask;
}

/**
 * What the gateway keeps on a queued job besides the payload: the checkpoints nodes stored for it,
 * which survive a lapsed lease so the next claim resumes from the last one.
 */
export interface LeasedJobData<P> {
  task: P;
  checkpoints: CheckpointRef[];
  /** SS58 address of the node holding the current lease, if any. */
  holder: string | null;
}

/** A queued webhook delivery: the row holds the signed payload, so only its id travels. */
export interface WebhookDeliveryPayload {
  deliveryId: string;
}
