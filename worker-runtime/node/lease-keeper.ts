// Keeps a lease alive while a task runs: heartbeats at the interval the gateway asked for, and
// aborts the work as soon as the gateway says the lease is gone (it lapsed and the task went to
// another node), since nothing this node produces afterwards would be accepted.
import { NodeError } from "./errors.ts";
import type { GatewayClient } from "./gateway-client.ts";

export class LeaseKeeper {
  readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly client: GatewayClient,
    readonly leaseId: string,
    intervalSeconds: number,
    outer: AbortSignal,
    private readonly log: (message: string) => void,
  ) {
    this.timer = setInterval(() => void this.beat(), intervalSeconds * 1000);
    if (outer.aborted) this.controller.abort(outer.reason);
    outer.addEventListener("abort", () => this.controller.abort(outer.reason), { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get lost(): boolean {
    return (
      this.controller.signal.reason instanceof NodeError &&
      this.controller.signal.reason.code === "LEASE_LOST"
    );
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async beat(): Promise<void> {
    try {
      await this.client.heartbeat(this.leaseId);
    } catch (error) {
      if (error instanceof NodeError && error.code === "LEASE_LOST") {
        this.log(`lease ${this.leaseId} lost; stopping its work`);
        this.controller.abort(error);
        return;
      }
      // A missed heartbeat is survivable: the lease outlives several intervals.
      this.log(`heartbeat failed: ${(error as Error).message}`);
    }
  }
}
