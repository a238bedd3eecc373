import { Type } from "@sinclair/typebox";
import { listOf } from "./common.ts";

const Email = Type.String({ format: "email", maxLength: 254, description: "The user's email address" });

export const SignUpBody = Type.Object(
  {
    email: Email,
    password: Type.String({ minLength: 10, maxLength: 200, description: "At least 10 characters" }),
    organization_name: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, description: "Defaults to the email address" }),
    ),
  },
  { additionalProperties: false },
);

export const LogInBody = Type.Object(
  { email: Email, password: Type.String({ minLength: 1, maxLength: 200 }) },
  { additionalProperties: false },
);

export const User = Type.Object(
  {
    id: Type.String({ description: "user_..." }),
    email: Type.String(),
    organization_id: Type.String({ description: "org_..." }),
    created_at: Type.String({ format: "date-time" }),
  },
  { title: "User" },
);

export const ApiKey = Type.Object(
  {
    id: Type.String({ description: "key_..." }),
    name: Type.String(),
    prefix: Type.String({ description: "The key's first characters, to recognise it" }),
    created_at: Type.String({ format: "date-time" }),
    last_used_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], {
      description: "Last use, recorded at most every few seconds",
    }),
  },
  { title: "ApiKey" },
);

export const ApiKeyWithSecret = Type.Composite(
  [ApiKey, Type.Object({ secret: Type.String({ description: "vt_...; shown only in this response" }) })],
  { title: "ApiKeyWithSecret" },
);

export const RevokedApiKey = Type.Composite(
  [ApiKey, Type.Object({ revoked_at: Type.String({ format: "date-time" }) })],
  { title: "RevokedApiKey" },
);

export const ApiKeyList = listOf(ApiKey, "ApiKeyList");

export const CreateApiKeyBody = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100, description: "What the key is for" }) },
  { additionalProperties: false },
);

export const ApiKeyParams = Type.Object({ id: Type.String({ maxLength: 64, description: "key_..." }) });

export const SignUpResult = Type.Object(
  {
    user: User,
    organization: Type.Object({ id: Type.String(), name: Type.String(), created_at: Type.String() }),
    api_key: ApiKeyWithSecret,
  },
  { title: "SignUpResult" },
);

export const LogInResult = Type.Object(
  {
    user: User,
    csrf_token: Type.String({ description: "Send as X-CSRF-Token on state-changing cookie requests" }),
    expires_at: Type.String({ format: "date-time" }),
  },
  { title: "LogInResult" },
);

export const Identity = Type.Object(
  {
    organization_id: Type.String(),
    user_id: Type.Union([Type.String(), Type.Null()], { description: "Set for a portal session" }),
    api_key_id: Type.Union([Type.String(), Type.Null()], { description: "Set for an API key" }),
    csrf_token: Type.Union([Type.String(), Type.Null()], {
      description: "The session's X-CSRF-Token, for a portal page that was reloaded",
    }),
    expires_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()], {
      description: "When the session ends",
    }),
  },
  { title: "Identity" },
);
