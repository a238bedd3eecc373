import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { Type } from "@sinclair/typebox";
import { SESSION_COOKIE } from "../plugins/auth.ts";
import { Identity, LogInBody, LogInResult, SignUpBody, SignUpResult } from "../schemas/accounts.ts";
import { answer, errorResponses, readAccess, writeAccess } from "../schemas/common.ts";
import type { Accounts } from "../services/accounts.ts";

const authRoutes: FastifyPluginAsyncTypebox<{ accounts: Accounts }> = async (app, { accounts }) => {
  app.post(
    "/v1/auth/signup",
    {
      schema: {
        operationId: "signUp",
        security: [],
        tags: ["auth"],
        summary: "Create a user and an organization; returns the first API key, shown once",
        body: SignUpBody,
        response: {
          201: answer("The user, the organization and a first API key", SignUpResult),
          ...errorResponses(400, 409),
        },
      },
    },
    async (request, reply) => {
      const { email, password, organization_name } = request.body;
      const result = await accounts.signUp(email, password, organization_name);
      return reply.status(201).send(result);
    },
  );

  app.post(
    "/v1/auth/login",
    {
      // After body parsing, so the account being guessed is known (api/plugins/rate-limits.ts).
      preHandler: app.limitLoginAccount,
      schema: {
        operationId: "logIn",
        security: [],
        tags: ["auth"],
        summary: "Start a portal session: sets an HttpOnly session cookie and returns its CSRF token",
        body: LogInBody,
        response: {
          200: answer("The session: its cookie is set, its CSRF token is here", LogInResult),
          ...errorResponses(400, 401, 429),
        },
      },
    },
    async (request, reply) => {
      const grant = await accounts.logIn(request.body.email, request.body.password);
      reply.setCookie(SESSION_COOKIE, grant.token, {
        path: "/",
        httpOnly: true,
        sameSite: "lax",
        // Behind a TLS-terminating proxy the app sees http; the proxy's header says what the browser used.
        secure: request.protocol === "https" || request.headers["x-forwarded-proto"] === "https",
        expires: grant.expiresAt,
      });
      return { user: grant.user, csrf_token: grant.csrfToken, expires_at: grant.expiresAt.toISOString() };
    },
  );

  app.get(
    "/v1/auth/session",
    {
      onRequest: app.authenticate,
      schema: {
        operationId: "getSession",
        tags: ["auth"],
        summary: "Who is calling: the organization, and the user and CSRF token of a portal session",
        security: readAccess,
        response: { 200: answer("Who the credentials belong to", Identity), ...errorResponses(401) },
      },
    },
    async (request) => ({
      organization_id: request.auth.organizationId,
      user_id: request.auth.userId,
      api_key_id: request.auth.apiKeyId,
      csrf_token: request.auth.session?.csrfToken ?? null,
      expires_at: request.auth.session?.expiresAt.toISOString() ?? null,
    }),
  );

  app.post(
    "/v1/auth/logout",
    {
      onRequest: app.authenticate,
      schema: {
        operationId: "logOut",
        tags: ["auth"],
        summary: "End the portal session of the cookie",
        security: writeAccess,
        response: {
          204: answer("The session ended; its cookie is cleared", Type.Null()),
          ...errorResponses(401, 403),
        },
      },
    },
    async (request, reply) => {
      if (request.auth.sessionId) await accounts.logOut(request.auth.sessionId);
      reply.clearCookie(SESSION_COOKIE, { path: "/" });
      return reply.status(204).send(null);
    },
  );
};

export default authRoutes;
