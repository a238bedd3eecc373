import assert from "node:assert/strict";
import { randomBytes, scryptSync } from "node:crypto";
import { after, before, test } from "node:test";
import { DEFAULT_RATE_LIMITS } from "../../config/rate-limits.ts";
import { signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, type TestApp } from "../../test/support/app.ts";
import type { ApiErrorCode } from "../errors.ts";
import { verifyPassword } from "../services/passwords.ts";

let t: TestApp;
before(async () => {
  // The account budget's window outlasts ten slow password hashes on a loaded machine.
  t = await createTestApp({
    rateLimits: { ...DEFAULT_RATE_LIMITS, login_account: { max: 10, windowMs: 10 * 60_000 } },
  });
});
after(() => t.close());

async function counts() {
  const db = t.database.db;
  return {
    users: await db.user.count(),
    organizations: await db.organization.count(),
    keys: await db.apiKey.count(),
    sessions: await db.session.count(),
  };
}

test("signup creates a user, an organization, a zero balance and a first API key shown once", async () => {
  const res = await t.app.inject({
    method: "POST",
    url: "/v1/auth/signup",
    payload: {
      email: "Ada@Example.com",
      password: "correct horse battery",
      organization_name: "Lovelace Labs",
    },
  });
  assert.equal(res.statusCode, 201, res.body);
  const body = res.json();
  assert.match(body.user.id, /^user_/);
  assert.equal(body.user.email, "ada@example.com");
  assert.match(body.organization.id, /^org_/);
  assert.equal(body.organization.name, "Lovelace Labs");
  assert.match(body.api_key.secret, /^vt_[A-Za-z0-9_-]{43}$/);
  assert.equal(body.api_key.prefix, body.api_key.secret.slice(0, 11));

  const user = await t.database.db.user.findUniqueOrThrow({ where: { id: body.user.id } });
  assert.match(user.passwordHash, /^scrypt\$17\$8\$1\$/);
  assert.ok(await verifyPassword("correct horse battery", user.passwordHash));
  assert.ok(!(await verifyPassword("correct horse batterY", user.passwordHash)));
  const key = await t.database.db.apiKey.findUniqueOrThrow({ where: { id: body.api_key.id } });
  assert.notEqual(key.secretHash, body.api_key.secret);
  assert.ok(!JSON.stringify(key).includes(body.api_key.secret));
  const balance = await t.database.db.balance.findUniqueOrThrow({
    where: { organizationId: body.organization.id },
  });
  assert.equal(balance.availableCents, 0n);
});

test("signup rejects bad input and a taken email, writing nothing", async () => {
  await signUp(t.app, "taken@example.com");
  const before = await counts();
  const cases: Array<[unknown, number, ApiErrorCode, string | null]> = [
    [{ email: "not-an-email", password: "long enough pw" }, 400, "parameter_invalid", "email"],
    [{ email: "a@example.com", password: "short" }, 400, "parameter_invalid", "password"],
    [{ email: "a@example.com", password: { text: "long enough pw" } }, 400, "parameter_invalid", "password"],
    [{ email: "a@example.com" }, 400, "parameter_invalid", "password"],
    [{ email: "a@example.com", password: "long enough pw", admin: true }, 400, "parameter_invalid", "admin"],
    [{ email: "TAKEN@example.com", password: "long enough pw" }, 409, "email_taken", "email"],
  ];
  for (const [payload, status, code, param] of cases) {
    const res = await t.app.inject({ method: "POST", url: "/v1/auth/signup", payload: payload as object });
    assert.equal(expectApiError(res, status, code).param, param);
  }
  const malformed = await t.app.inject({
    method: "POST",
    url: "/v1/auth/signup",
    headers: { "content-type": "application/json" },
    payload: '{"email": "x@example.com", "password": ',
  });
  expectApiError(malformed, 400, "invalid_json");
  assert.deepEqual(await counts(), before);
});

test("concurrent signups with one email create exactly one account", async () => {
  const attempts = await Promise.all(
    Array.from({ length: 4 }, () =>
      t.app.inject({
        method: "POST",
        url: "/v1/auth/signup",
        payload: { email: "race@example.com", password: "long enough pw" },
      }),
    ),
  );
  assert.deepEqual(attempts.map((r) => r.statusCode).sort(), [201, 409, 409, 409]);
  assert.equal(await t.database.db.user.count({ where: { email: "race@example.com" } }), 1);
});

test("an API key authenticates; a missing, malformed, unknown or non-bearer one answers 401", async () => {
  const alice = await signUp(t.app);
  const ok = await t.app.inject({ method: "GET", url: "/v1/api-keys", headers: alice.headers });
  assert.equal(ok.statusCode, 200, ok.body);

  expectApiError(await t.app.inject({ method: "GET", url: "/v1/api-keys" }), 401, "missing_credentials");
  const unknown = `vt_${"A".repeat(43)}`;
  for (const [authorization, code] of [
    [`Bearer ${unknown}`, "invalid_api_key"],
    ["Bearer vt_short", "invalid_api_key"],
    [`Basic ${alice.apiKey}`, "invalid_authorization_header"],
    ["Bearer", "invalid_authorization_header"],
  ] as const) {
    const res = await t.app.inject({ method: "GET", url: "/v1/api-keys", headers: { authorization } });
    assert.equal(expectApiError(res, 401, code).param, null);
  }
});

test("login sets an HttpOnly SameSite session cookie; state changes by cookie need the CSRF token", async () => {
  const bob = await signUp(t.app);
  const login = await t.app.inject({
    method: "POST",
    url: "/v1/auth/login",
    payload: { email: bob.email.toUpperCase(), password: bob.password },
  });
  assert.equal(login.statusCode, 200, login.body);
  const setCookie = String(login.headers["set-cookie"]);
  assert.match(setCookie, /^vt_session=[A-Za-z0-9_-]{43};/);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Lax/);
  assert.doesNotMatch(setCookie, /Secure/);
  const cookie = setCookie.split(";")[0]!;
  const { csrf_token: csrf, user } = login.json();
  assert.equal(user.organization_id, bob.organizationId);
  const stored = await t.database.db.session.findFirstOrThrow({ where: { userId: bob.userId } });
  assert.ok(!cookie.includes(stored.tokenHash));

  const list = await t.app.inject({ method: "GET", url: "/v1/api-keys", headers: { cookie } });
  assert.equal(list.statusCode, 200);
  assert.equal(list.json().data[0].id, bob.apiKeyId);

  const keysBefore = await t.database.db.apiKey.count();
  const noCsrf = await t.app.inject({
    method: "POST",
    url: "/v1/api-keys",
    headers: { cookie },
    payload: { name: "x" },
  });
  expectApiError(noCsrf, 403, "csrf_token_invalid");
  const wrongCsrf = await t.app.inject({
    method: "POST",
    url: "/v1/api-keys",
    headers: { cookie, "x-csrf-token": `${csrf.slice(0, -1)}${csrf.endsWith("A") ? "B" : "A"}` },
    payload: { name: "x" },
  });
  expectApiError(wrongCsrf, 403, "csrf_token_invalid");
  assert.equal(await t.database.db.apiKey.count(), keysBefore);
  const created = await t.app.inject({
    method: "POST",
    url: "/v1/api-keys",
    headers: { cookie, "x-csrf-token": csrf },
    payload: { name: "from the portal" },
  });
  assert.equal(created.statusCode, 201, created.body);

  const identity = await t.app.inject({ method: "GET", url: "/v1/auth/session", headers: { cookie } });
  assert.deepEqual(identity.json(), {
    organization_id: bob.organizationId,
    user_id: bob.userId,
    api_key_id: null,
    csrf_token: csrf,
    expires_at: stored.expiresAt.toISOString(),
  });
  const byKey = await t.app.inject({ method: "GET", url: "/v1/auth/session", headers: bob.headers });
  assert.deepEqual(byKey.json(), {
    organization_id: bob.organizationId,
    user_id: null,
    api_key_id: bob.apiKeyId,
    csrf_token: null,
    expires_at: null,
  });

  const logout = await t.app.inject({
    method: "POST",
    url: "/v1/auth/logout",
    headers: { cookie, "x-csrf-token": csrf },
  });
  assert.equal(logout.statusCode, 204);
  assert.match(String(logout.headers["set-cookie"]), /vt_session=;/);
  const afterLogout = await t.app.inject({ method: "GET", url: "/v1/api-keys", headers: { cookie } });
  expectApiError(afterLogout, 401, "session_expired");
});

test("the session cookie is Secure when the request came over https", async () => {
  const carol = await signUp(t.app);
  const res = await t.app.inject({
    method: "POST",
    url: "/v1/auth/login",
    headers: { "x-forwarded-proto": "https" },
    payload: { email: carol.email, password: carol.password },
  });
  assert.equal(res.statusCode, 200);
  assert.match(String(res.headers["set-cookie"]), /; Secure/);
});

test("an expired session answers 401 and is deleted", async () => {
  const erin = await signUp(t.app);
  const login = await t.app.inject({
    method: "POST",
    url: "/v1/auth/login",
    payload: { email: erin.email, password: erin.password },
  });
  const cookie = String(login.headers["set-cookie"]).split(";")[0]!;
  await t.database.db.session.updateMany({
    where: { userId: erin.userId },
    data: { expiresAt: new Date(0) },
  });
  const res = await t.app.inject({ method: "GET", url: "/v1/api-keys", headers: { cookie } });
  expectApiError(res, 401, "session_expired");
  assert.equal(await t.database.db.session.count({ where: { userId: erin.userId } }), 0);
});

test("a wrong password and an unknown email fail alike and create no session", async () => {
  const dan = await signUp(t.app);
  const sessions = await t.database.db.session.count();
  for (const payload of [
    { email: dan.email, password: "not the password" },
    { email: "nobody@example.com", password: "not the password" },
  ]) {
    const res = await t.app.inject({ method: "POST", url: "/v1/auth/login", payload });
    const error = expectApiError(res, 401, "invalid_credentials");
    assert.equal(error.type, "authentication_error");
  }
  assert.equal(await t.database.db.session.count(), sessions);
});

test("password guessing is rate limited per address and email", async () => {
  const fred = await signUp(t.app);
  const guess = (email: string) =>
    t.app.inject({ method: "POST", url: "/v1/auth/login", payload: { email, password: "a wrong guess" } });
  for (let i = 0; i < 10; i++) expectApiError(await guess(fred.email), 401, "invalid_credentials");
  const limited = expectApiError(await guess(fred.email.toUpperCase()), 429, "rate_limited");
  assert.equal(limited.type, "rate_limit_error");
  expectApiError(await guess("someone-else@example.com"), 401, "invalid_credentials");
});

test("passwords are hashed with scrypt N=2^17, r=8, p=1; an older hash is replaced at login", async () => {
  const erin = await signUp(t.app);
  const stored = async () =>
    (await t.database.db.user.findUniqueOrThrow({ where: { id: erin.userId } })).passwordHash;
  assert.match(await stored(), /^scrypt\$17\$8\$1\$/);
  // A hash from before the parameters were raised (N=2^15).
  const salt = randomBytes(16);
  const old = scryptSync(erin.password.normalize("NFKC"), salt, 32, {
    N: 2 ** 15,
    r: 8,
    p: 1,
    maxmem: 64 << 20,
  });
  const legacy = ["scrypt", 15, 8, 1, salt.toString("base64url"), old.toString("base64url")].join("$");
  await t.database.db.user.update({ where: { id: erin.userId }, data: { passwordHash: legacy } });
  const login = await t.app.inject({
    method: "POST",
    url: "/v1/auth/login",
    payload: { email: erin.email, password: erin.password },
  });
  assert.equal(login.statusCode, 200, login.body);
  const rehashed = await stored();
  assert.match(rehashed, /^scrypt\$17\$8\$1\$/);
  assert.equal(await verifyPassword(erin.password, rehashed), true);
});
