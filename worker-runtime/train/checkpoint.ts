// The trainer's side of the protocol's checkpoint bytes (protocol/checkpoint.ts): a malformed
// checkpoint is refused as a TrainError, like everything else the trainer refuses.
import {
  CheckpointFormatError,
  decodeCheckpoint as decode,
  type TrainingState,
} from "../../protocol/checkpoint.ts";
import { TrainError } from "./errors.ts";

export { checkpointSha256, encodeCheckpoint, type TrainingState } from "../../protocol/checkpoint.ts";
export { sha256Hex } from "../../protocol/signed-messages.ts";

export function decodeCheckpoint(bytes: Uint8Array): TrainingState {
  try {
    return decode(bytes);
  } catch (error) {
    if (error instanceof CheckpointFormatError) throw new TrainError("INVALID_CHECKPOINT", error.message);
    throw error;
  }
}
