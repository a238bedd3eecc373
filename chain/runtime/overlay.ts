// A layer of uncommitted storage writes over a parent view: one per block, per extrinsic and per
// nested dispatch, so a failing call is dropped without touching what lies below.
import type { StateAccess } from "./pallet.ts";

/** What an overlay reads through to: the committed state of the parent block, or another overlay. */
export interface StateView {
  get(key: string): Uint8Array | undefined;
  keysWithPrefix(prefix: string): string[];
}

export class Overlay implements StateAccess {
  /** Written values; null marks a deletion. */
  readonly changes = new Map<string, Uint8Array | null>();

  constructor(readonly parent: StateView) {}

  get(key: string): Uint8Array | undefined {
    const changed = this.changes.get(key);
    if (changed !== undefined) return changed ?? undefined;
    return this.parent.get(key);
  }

  set(key: string, value: Uint8Array): void {
    this.changes.set(key, value);
  }

  delete(key: string): void {
    this.changes.set(key, null);
  }

  keysWithPrefix(prefix: string): string[] {
    const keys = new Set(this.parent.keysWithPrefix(prefix));
    for (const [key, value] of this.changes) {
      if (!key.startsWith(prefix)) continue;
      if (value === null) keys.delete(key);
      else keys.add(key);
    }
    return [...keys].sort();
  }

  /** Moves these writes into the parent overlay. */
  commitInto(parent: Overlay): void {
    for (const [key, value] of this.changes) parent.changes.set(key, value);
  }
}
