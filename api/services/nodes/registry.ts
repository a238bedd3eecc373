// The nodes the gateway knows, with the roles and determinism profile each registered under its
// own key. Roles keep a node to the kinds of work it registered for; which work it gets is the
// chain's decision (queue/names.ts).
import type { Redis } from "ioredis";
import type { Database } from "../../../prisma/client.ts";
import type { NodeInfo, NodeRole, RegisterRequest } from "../../../protocol/node-wire.ts";
import { ApiError } from "../../errors.ts";
import { announceEviction, listenForEvictions } from "../cache-evictions.ts";
import { ExpiringCache } from "../expiring-cache.ts";

// A node that re-registers with fewer roles through one API process loses them in every process.
const ROLES_CHANGED_CHANNEL = "veritrain:nodes:roles-changed";

export interface RegisteredNode {
  address: string;
  roles: NodeRole[];
}

export class NodeRegistry {
  private readonly roles = new ExpiringCache<NodeRole[]>(10_000, 30_000);

  constructor(
    private readonly db: Database,
    private readonly redis: Redis,
  ) {}

  async register(address: string, request: RegisterRequest): Promise<NodeInfo> {
    const roles = [...new Set(request.roles)].sort();
    const profileHash = request.profile_hash;
    const row = await this.db.node.upsert({
      where: { address },
      create: { address, roles, profileHash, lastSeenAt: new Date() },
      update: { roles, profileHash, lastSeenAt: new Date() },
    });
    this.roles.evict(address);
    await announceEviction(this.redis, ROLES_CHANGED_CHANNEL, address);
    return {
      object: "node",
      address: row.address,
      roles,
      profile_hash: row.profileHash,
      registered_at: row.registeredAt.toISOString(),
    };
  }

  /** Evicts roles another API process changed; resolves once subscribed, returns the unsubscriber. */
  listenForChanges(): Promise<() => Promise<void>> {
    return listenForEvictions(this.redis, ROLES_CHANGED_CHANNEL, this.roles);
  }

  async list(): Promise<RegisteredNode[]> {
    const rows = await this.db.node.findMany({ select: { address: true, roles: true } });
    return rows.map(({ address, roles }) => ({ address, roles: roles as NodeRole[] }));
  }

  /** The roles `address` registered with, or null for a node that never registered; cached for a few seconds. */
  async rolesOf(address: string): Promise<NodeRole[] | null> {
    const cached = this.roles.get(address);
    if (cached) return cached;
    const generation = this.roles.generation;
    const row = await this.db.node.findUnique({ where: { address }, select: { roles: true } });
    if (!row) return null;
    const roles = row.roles as NodeRole[];
    if (generation === this.roles.generation) this.roles.set(address, roles);
    return roles;
  }

  /** Refuses nodes that are not registered with `role`. */
  async requireRole(address: string, role: NodeRole): Promise<void> {
    const roles = await this.rolesOf(address);
    if (!roles) {
      throw new ApiError(
        403,
        "permission_error",
        "node_not_registered",
        `node ${address} is not registered; POST /v1/nodes/register first`,
      );
    }
    if (!roles.includes(role)) {
      throw new ApiError(
        403,
        "permission_error",
        "role_not_registered",
        `node ${address} is registered as ${roles.join(", ")}, not as a ${role}; register again with that role`,
      );
    }
  }
}
