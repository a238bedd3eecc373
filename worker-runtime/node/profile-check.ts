// The determinism profile a node advertises, and its refusal of work made under another profile:
// outside its own profile a node cannot reproduce a checkpoint bit for bit, so a verifier's
// disagreement would accuse an honest worker and a resumed run would mix two profiles' rounding.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import type { WorkInputs } from "../../protocol/node-wire.ts";
import { currentProfile } from "../train/profile.ts";
import { NodeError } from "./errors.ts";

/** The hash a node registers with: its profile, including its intra-op thread count. */
export function determinismProfileHash(threads = 1): string {
  return createHash("sha256")
    .update(canonicalize(currentProfile(threads))!)
    .digest("hex");
}

/**
 * Work as the gateway hands it out, with the profile hash of the node that made its first
 * checkpoint once the gateway sends it (the field joins protocol/node-wire.ts with the gateway's
 * schema; until then nothing is refused).
 */
export type ProfiledWork = WorkInputs & { profile_hash?: string | null };

/** Throws PROFILE_MISMATCH when the task is bound to a profile other than `own`. */
export function requireSameProfile(work: ProfiledWork, own: string = determinismProfileHash()): void {
  if (work.profile_hash && work.profile_hash !== own) {
    throw new NodeError(
      "PROFILE_MISMATCH",
      `task ${work.task_id} was trained under determinism profile ${work.profile_hash}, this node runs ${own}: only a node of that profile can reproduce its checkpoints`,
    );
  }
}
