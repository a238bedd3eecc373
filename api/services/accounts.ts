// Users, their organizations and portal sessions. A session token is random and stored hashed,
// like an API key; its CSRF token is returned at login and must accompany every state-changing
// request the session cookie authenticates.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Database } from "../../prisma/client.ts";
import { Prisma } from "../../prisma/generated/client.ts";
import { newId } from "../ids.ts";
import type { ApiKeys, ApiKeyView } from "./api-keys.ts";
import { DomainError } from "./domain-errors.ts";
import { decoyPasswordHash, hashPassword, needsRehash, verifyPassword } from "./passwords.ts";

const SESSION_LIFETIME_MS = 7 * 24 * 3600 * 1000;

export class AccountError extends DomainError<"email_taken" | "invalid_credentials"> {}
const FIRST_KEY_NAME = "Default key";

export interface UserView {
  id: string;
  email: string;
  organization_id: string;
  created_at: string;
}

export interface SignUpResult {
  user: UserView;
  organization: { id: string; name: string; created_at: string };
  api_key: ApiKeyView & { secret: string };
}

export interface SessionGrant {
  token: string;
  csrfToken: string;
  expiresAt: Date;
  user: UserView;
}

export interface SessionIdentity {
  sessionId: string;
  userId: string;
  organizationId: string;
  csrfToken: string;
  expiresAt: Date;
}

function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

function userView(user: { id: string; email: string; organizationId: string; createdAt: Date }): UserView {
  return {
    id: user.id,
    email: user.email,
    organization_id: user.organizationId,
    created_at: user.createdAt.toISOString(),
  };
}

export function csrfTokenMatches(expected: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export class Accounts {
  constructor(
    private readonly db: Database,
    private readonly apiKeys: ApiKeys,
  ) {}

  async signUp(email: string, password: string, organizationName?: string): Promise<SignUpResult> {
    const normalized = email.trim().toLowerCase();
    const passwordHash = await hashPassword(password);
    try {
      return await this.db.$transaction(async (tx) => {
        const organization = await tx.organization.create({
          data: { id: newId("org"), name: organizationName ?? normalized },
        });
        const user = await tx.user.create({
          data: { id: newId("user"), organizationId: organization.id, email: normalized, passwordHash },
        });
        await tx.balance.create({ data: { organizationId: organization.id } });
        const apiKey = await this.apiKeys.create(organization.id, FIRST_KEY_NAME, tx);
        return {
          user: userView(user),
          organization: {
            id: organization.id,
            name: organization.name,
            created_at: organization.createdAt.toISOString(),
          },
          api_key: apiKey,
        };
      });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") {
        throw new AccountError(
          "email_taken",
          `An account with the email '${normalized}' already exists; log in instead`,
          "email",
        );
      }
      throw error;
    }
  }

  async logIn(email: string, password: string): Promise<SessionGrant> {
    const user = await this.db.user.findUnique({ where: { email: email.trim().toLowerCase() } });
    const valid = await verifyPassword(password, user?.passwordHash ?? (await decoyPasswordHash()));
    if (!user || !valid) {
      throw new AccountError("invalid_credentials", "The email or password is incorrect");
    }
    // Only now is the plain password at hand to hash again with today's parameters.
    if (needsRehash(user.passwordHash)) {
      await this.db.user.update({
        where: { id: user.id },
        data: { passwordHash: await hashPassword(password) },
      });
    }
    const token = randomBytes(32).toString("base64url");
    const csrfToken = randomBytes(32).toString("base64url");
    const expiresAt = new Date(Date.now() + SESSION_LIFETIME_MS);
    await this.db.session.create({
      data: { id: newId("sess"), userId: user.id, tokenHash: hashToken(token), csrfToken, expiresAt },
    });
    return { token, csrfToken, expiresAt, user: userView(user) };
  }

  async logOut(sessionId: string): Promise<void> {
    await this.db.session.deleteMany({ where: { id: sessionId } });
  }

  /** The live session a cookie token names, or null when it is unknown or expired. */
  async session(token: string): Promise<SessionIdentity | null> {
    const session = await this.db.session.findUnique({
      where: { tokenHash: hashToken(token) },
      include: { user: { select: { organizationId: true } } },
    });
    if (!session) return null;
    if (session.expiresAt.getTime() <= Date.now()) {
      await this.db.session.deleteMany({ where: { id: session.id } });
      return null;
    }
    return {
      sessionId: session.id,
      userId: session.userId,
      organizationId: session.user.organizationId,
      csrfToken: session.csrfToken,
      expiresAt: session.expiresAt,
    };
  }
}
