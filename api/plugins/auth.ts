// Authentication for every route that declares `onRequest: app.authenticate`: an API key
// (`Authorization: Bearer vt_...`, verified from the in-process cache) or the portal's session
// cookie. Cookie-authenticated requests that change state must carry the session's CSRF token in
// `X-CSRF-Token`; API-key requests need none, since browsers never attach a bearer key on their own.
import cookie from "@fastify/cookie";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import fp from "fastify-plugin";
import { ApiError, type ApiErrorCode } from "../errors.ts";
import { type Accounts, csrfTokenMatches } from "../services/accounts.ts";
import type { ApiKeys } from "../services/api-keys.ts";

export const SESSION_COOKIE = "vt_session";
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

export interface AuthContext {
  organizationId: string;
  /** Set when an API key authenticated the request. */
  apiKeyId: string | null;
  /** Set when a portal session authenticated the request. */
  userId: string | null;
  sessionId: string | null;
  /** The session's CSRF token and expiry, for a portal that reloads and must recover them. */
  session: { csrfToken: string; expiresAt: Date } | null;
}

declare module "fastify" {
  interface FastifyRequest {
    /** Who is calling; set by `app.authenticate`, so read it only on routes that use it. */
    auth: AuthContext;
  }
  interface FastifyInstance {
    authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  }
}

function unauthenticated(code: ApiErrorCode, message: string): ApiError {
  return new ApiError(401, "authentication_error", code, message);
}

export interface AuthOptions {
  apiKeys: ApiKeys;
  accounts: Accounts;
}

export default fp(
  async (app: FastifyInstance, { apiKeys, accounts }: AuthOptions) => {
    await app.register(cookie);
    app.decorateRequest("auth", null as unknown as AuthContext);

    app.decorate("authenticate", async (request: FastifyRequest) => {
      const header = request.headers.authorization;
      if (header !== undefined) {
        const [scheme, secret] = header.split(" ");
        if (scheme?.toLowerCase() !== "bearer" || !secret) {
          throw unauthenticated(
            "invalid_authorization_header",
            "The Authorization header must be `Bearer <API key>`, with a key that starts with vt_",
          );
        }
        const key = await apiKeys.verify(secret);
        if (!key) {
          throw unauthenticated(
            "invalid_api_key",
            `The API key ${secret.slice(0, 11)}... is invalid or revoked`,
          );
        }
        request.auth = {
          organizationId: key.organizationId,
          apiKeyId: key.apiKeyId,
          userId: null,
          sessionId: null,
          session: null,
        };
        return;
      }
      const token = request.cookies[SESSION_COOKIE];
      if (token === undefined) {
        throw unauthenticated(
          "missing_credentials",
          "Authenticate with `Authorization: Bearer vt_...` (an API key) or the session cookie from POST /v1/auth/login",
        );
      }
      const session = await accounts.session(token);
      if (!session)
        throw unauthenticated("session_expired", "The session has expired or ended; log in again");
      if (!SAFE_METHODS.has(request.method)) {
        const given = request.headers["x-csrf-token"];
        if (!csrfTokenMatches(session.csrfToken, typeof given === "string" ? given : undefined)) {
          throw new ApiError(
            403,
            "permission_error",
            "csrf_token_invalid",
            "A request authenticated by the session cookie must send the X-CSRF-Token header returned by login",
          );
        }
      }
      request.auth = {
        organizationId: session.organizationId,
        apiKeyId: null,
        userId: session.userId,
        sessionId: session.sessionId,
        session: { csrfToken: session.csrfToken, expiresAt: session.expiresAt },
      };
    });
  },
  { name: "auth" },
);
