import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Webhook } from "standardwebhooks";
import { WebhookQueue } from "../../queue/webhooks.ts";
import { type SignedUp, signUp } from "../../test/support/accounts.ts";
import { expectApiError } from "../../test/support/api-error.ts";
import { createTestApp, suiteRedisUrl, type TestApp } from "../../test/support/app.ts";
import { uploadMlpFixtures } from "../../test/support/uploads.ts";
import { Receiver } from "../../test/support/webhook-receiver.ts";
import { JobSettlement } from "../services/job-settlement.ts";
import { WebhookOutbox } from "../services/webhooks/outbox.ts";

const FAST_RETRIES = { attempts: 3, backoffMs: 100, concurrency: 4, keepFinishedSeconds: 60 };

let t: TestApp;
let receiver: Receiver;
let receiverUrl: string;

before(async () => {
  t = await createTestApp({}, { queues: true, webhookPolicy: FAST_RETRIES });
  await t.services.webhookDeliveries!.start();
  receiver = new Receiver();
  receiverUrl = await receiver.listen();
});
after(async () => {
  receiver.close();
  await t.close();
});

const post = (user: SignedUp, url: string, payload?: object) =>
  t.app.inject({ method: "POST", url, headers: user.headers, ...(payload ? { payload } : {}) });
const get = (user: SignedUp, url: string) => t.app.inject({ method: "GET", url, headers: user.headers });

async function createEndpoint(user: SignedUp, events: string[], url = receiverUrl) {
  const res = await post(user, "/v1/webhook-endpoints", { url, events, description: "ci" });
  assert.equal(res.statusCode, 201, res.body);
  return res.json<{ id: string; secret: string; events: string[] }>();
}

interface DeliveryView {
  id: string;
  status: string;
  attempts: number;
  event_type: string;
  last_status_code: number | null;
  last_error: string | null;
}

async function settledDelivery(user: SignedUp, endpoint: string, id: string): Promise<DeliveryView> {
  for (let i = 0; i < 200; i++) {
    const log = (await get(user, `/v1/webhook-endpoints/${endpoint}/deliveries`)).json<{
      data: DeliveryView[];
    }>();
    const delivery = log.data.find((d) => d.id === id);
    if (delivery && delivery.status !== "pending") return delivery;
    await sleep(25);
  }
  throw new Error(`delivery ${id} never settled`);
}

test("endpoints are created with a whsec_ secret, listed, read, rotated and deleted, per organization", async () => {
  const alice = await signUp(t.app);
  const bob = await signUp(t.app);
  const created = await createEndpoint(alice, ["training_job.succeeded", "billing.credits_added"]);
  assert.match(created.secret, /^whsec_[A-Za-z0-9+/]{43}=$/);

  const list = await get(alice, "/v1/webhook-endpoints");
  assert.deepEqual(
    list.json<{ data: { id: string }[] }>().data.map((e) => e.id),
    [created.id],
  );
  assert.ok(!list.body.includes(created.secret), "a read never shows the secret");
  const read = await get(alice, `/v1/webhook-endpoints/${created.id}`);
  assert.equal(read.json<{ url: string }>().url, receiverUrl);
  expectApiError(await get(bob, `/v1/webhook-endpoints/${created.id}`), 404, "resource_missing");

  const rotated = await post(alice, `/v1/webhook-endpoints/${created.id}/rotate-secret`);
  assert.equal(rotated.statusCode, 200, rotated.body);
  assert.notEqual(rotated.json<{ secret: string }>().secret, created.secret);

  const deleted = await t.app.inject({
    method: "DELETE",
    url: `/v1/webhook-endpoints/${created.id}`,
    headers: alice.headers,
  });
  assert.deepEqual(deleted.json(), { id: created.id, object: "webhook_endpoint", deleted: true });
  expectApiError(await get(alice, `/v1/webhook-endpoints/${created.id}`), 404, "resource_missing");
});

test("bad endpoints are refused naming the field", async () => {
  const alice = await signUp(t.app);
  const unknownEvent = await post(alice, "/v1/webhook-endpoints", { url: receiverUrl, events: ["job.done"] });
  assert.equal(expectApiError(unknownEvent, 400, "parameter_invalid").param, "events.0");
  const noEvents = await post(alice, "/v1/webhook-endpoints", { url: receiverUrl, events: [] });
  expectApiError(noEvents, 400, "parameter_invalid");
  const notUrl = await post(alice, "/v1/webhook-endpoints", {
    url: "not a url",
    events: ["billing.credits_added"],
  });
  assert.equal(expectApiError(notUrl, 400, "webhook_url_refused").param, "url");
  const ftp = await post(alice, "/v1/webhook-endpoints", {
    url: "ftp://example.com/",
    events: ["billing.credits_added"],
  });
  expectApiError(ftp, 400, "webhook_url_refused");
});

test("a test event arrives signed per Standard Webhooks, and both secrets verify during a rotation", async () => {
  const alice = await signUp(t.app);
  const endpoint = await createEndpoint(alice, ["training_job.failed"]);
  const before = receiver.received.length;
  const sent = await post(alice, `/v1/webhook-endpoints/${endpoint.id}/test`);
  assert.equal(sent.statusCode, 202, sent.body);
  const delivery = sent.json<DeliveryView>();
  assert.match(delivery.id, /^msg_/);
  const [received] = (await receiver.waitFor(before + 1)).slice(before);
  const payload = new Webhook(endpoint.secret).verify(
    received!.body,
    received!.headers as Record<string, string>,
  );
  assert.deepEqual((payload as { type: string }).type, "webhook.test");
  assert.equal(received!.headers["webhook-id"], delivery.id);
  assert.equal((await settledDelivery(alice, endpoint.id, delivery.id)).status, "succeeded");

  const rotated = await post(alice, `/v1/webhook-endpoints/${endpoint.id}/rotate-secret`);
  const newSecret = rotated.json<{ secret: string }>().secret;
  await post(alice, `/v1/webhook-endpoints/${endpoint.id}/test`);
  const [afterRotation] = (await receiver.waitFor(before + 2)).slice(before + 1);
  for (const secret of [endpoint.secret, newSecret]) {
    new Webhook(secret).verify(afterRotation!.body, afterRotation!.headers as Record<string, string>);
  }
  assert.throws(() =>
    new Webhook(endpoint.secret).verify(
      `${afterRotation!.body} `,
      afterRotation!.headers as Record<string, string>,
    ),
  );
});

test("a receiver answering 500 gets the same delivery again, and the log shows each attempt", async () => {
  const alice = await signUp(t.app);
  const endpoint = await createEndpoint(alice, ["billing.credits_added"]);
  const before = receiver.received.length;
  receiver.statuses.push(500);
  const delivery = (await post(alice, `/v1/webhook-endpoints/${endpoint.id}/test`)).json<DeliveryView>();
  const settled = await settledDelivery(alice, endpoint.id, delivery.id);
  assert.equal(settled.status, "succeeded");
  assert.equal(settled.attempts, 2);
  assert.equal(settled.last_status_code, 200);
  const attempts = receiver.received.slice(before);
  assert.equal(attempts.length, 2);
  assert.equal(attempts[0]!.headers["webhook-id"], attempts[1]!.headers["webhook-id"]);
  assert.equal(attempts[0]!.body, attempts[1]!.body, "every attempt sends the same body");

  receiver.statuses.push(500, 500, 500);
  const failing = (await post(alice, `/v1/webhook-endpoints/${endpoint.id}/test`)).json<DeliveryView>();
  const failed = await settledDelivery(alice, endpoint.id, failing.id);
  assert.equal(failed.status, "failed");
  assert.equal(failed.attempts, FAST_RETRIES.attempts);
  assert.equal(failed.last_error, "answered 500");
});

test("ending a job announces training_job.cancelled and training_job.succeeded with the job", async () => {
  const alice = await signUp(t.app);
  const endpoint = await createEndpoint(alice, ["training_job.succeeded", "training_job.cancelled"]);
  const files = await uploadMlpFixtures(t.app, alice);
  const { readFile } = await import("node:fs/promises");
  const spec = JSON.parse(
    await readFile(new URL("../../worker-runtime/fixtures/mlp.spec.json", import.meta.url), "utf8"),
  ) as object;
  await t.services.ledger.topUp(alice.organizationId, 10_000, "test:webhooks-credit");
  const create = () => post(alice, "/v1/training-jobs", { ...files, spec, verification: "basic" });

  const before = receiver.received.length;
  const cancelled = (await create()).json<{ id: string }>();
  assert.equal((await post(alice, `/v1/training-jobs/${cancelled.id}/cancel`)).statusCode, 200);
  const [cancelEvent] = (await receiver.waitFor(before + 1)).slice(before);
  const cancelBody = new Webhook(endpoint.secret).verify(
    cancelEvent!.body,
    cancelEvent!.headers as Record<string, string>,
  ) as { type: string; data: { id: string; status: string } };
  assert.equal(cancelBody.type, "training_job.cancelled");
  assert.equal(cancelBody.data.id, cancelled.id);
  assert.equal(cancelBody.data.status, "cancelled");

  // The settlement the verification driver ends a finalized job with, over the same queue.
  const queue = new WebhookQueue({ redisUrl: suiteRedisUrl(), prefix: t.prefix }, FAST_RETRIES);
  const settlement = new JobSettlement({
    db: t.database.db,
    ledger: t.services.ledger,
    events: t.services.jobEvents,
    webhooks: new WebhookOutbox(queue),
  });
  const succeeded = (await create()).json<{ id: string }>();
  const row = await t.database.db.trainingJob.findUniqueOrThrow({ where: { id: succeeded.id } });
  await settlement.finish(row, "succeeded", null, 1);
  await queue.close();
  const [successEvent] = (await receiver.waitFor(before + 2)).slice(before + 1);
  const successBody = new Webhook(endpoint.secret).verify(
    successEvent!.body,
    successEvent!.headers as Record<string, string>,
  ) as {
    type: string;
    timestamp: string;
    data: { id: string; status: string; price: { charged_cents: number } };
  };
  assert.equal(successBody.type, "training_job.succeeded");
  assert.equal(successBody.data.id, succeeded.id);
  assert.equal(successBody.data.status, "succeeded");
  assert.equal(successBody.data.price.charged_cents, 1);

  await settlement.finish(row, "succeeded", null, 1);
  await sleep(300);
  assert.equal(receiver.received.length, before + 2, "a job ends, and is announced, once");
});

test("in production a delivery to a private or loopback address is refused and never sent", async () => {
  const production = await createTestApp({ production: true }, { queues: true, webhookPolicy: FAST_RETRIES });
  try {
    await production.services.webhookDeliveries!.start();
    const alice = await signUp(production.app);
    for (const url of [
      "http://example.com/hooks",
      "https://127.0.0.1/hooks",
      "https://[::1]/",
      "https://localhost/x",
    ]) {
      const res = await production.app.inject({
        method: "POST",
        url: "/v1/webhook-endpoints",
        headers: alice.headers,
        payload: { url, events: ["billing.credits_added"] },
      });
      expectApiError(res, 400, "webhook_url_refused");
    }
    // A name that passed creation and now resolves to a loopback address (DNS rebinding).
    const created = await production.app.inject({
      method: "POST",
      url: "/v1/webhook-endpoints",
      headers: alice.headers,
      payload: { url: "https://hooks.example.com/", events: ["billing.credits_added"] },
    });
    assert.equal(created.statusCode, 201, created.body);
    const id = created.json<{ id: string }>().id;
    await production.database.db.webhookEndpoint.update({ where: { id }, data: { url: receiverUrl } });
    const before = receiver.received.length;
    const sent = await production.app.inject({
      method: "POST",
      url: `/v1/webhook-endpoints/${id}/test`,
      headers: alice.headers,
    });
    const deliveryId = sent.json<DeliveryView>().id;
    let delivery: DeliveryView | undefined;
    for (let i = 0; i < 200 && delivery?.status !== "failed"; i++) {
      await sleep(25);
      const log = await production.app.inject({
        method: "GET",
        url: `/v1/webhook-endpoints/${id}/deliveries`,
        headers: alice.headers,
      });
      delivery = log.json<{ data: DeliveryView[] }>().data.find((d) => d.id === deliveryId);
    }
    assert.equal(delivery?.status, "failed");
    assert.match(String(delivery?.last_error), /refused to call 127\.0\.0\.1: .*loopback/);
    assert.equal(receiver.received.length, before, "nothing reached the receiver");
  } finally {
    await production.close();
  }
});
