// `veritrain webhooks list|create|delete|rotate-secret|test|deliveries`: the endpoints the service
// POSTs signed events to (Standard Webhooks), and each one's delivery log.
import type { Command } from "commander";
import {
  WEBHOOK_EVENT_TYPES,
  type WebhookDelivery,
  type WebhookEndpointWithSecret,
  type WebhookEventType,
} from "../../sdk/src/index.ts";
import { authenticatedClient } from "../remote/client.ts";
import { answer, CliError, type OutputFlags, table } from "../remote/output.ts";

interface ListFlags extends OutputFlags {
  limit: string;
  after?: string;
}

interface CreateFlags extends OutputFlags {
  url?: string;
  events?: string;
  description?: string;
}

/** `--events a,b`: each one a known event type; omitted, every event. */
function eventsOf(given: string | undefined): WebhookEventType[] {
  if (given === undefined) return [...WEBHOOK_EVENT_TYPES];
  const events = given
    .split(",")
    .map((event) => event.trim())
    .filter((event) => event !== "");
  const unknown = events.filter((event) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(event));
  if (events.length === 0 || unknown.length > 0) {
    throw new CliError(
      "events_invalid",
      `${events.length === 0 ? "--events names no event" : `--events: unknown ${unknown.map((e) => `'${e}'`).join(", ")}`}; ` +
        `accepted, comma-separated: ${WEBHOOK_EVENT_TYPES.join(", ")}`,
    );
  }
  return [...new Set(events)] as WebhookEventType[];
}

/** The lines that show a secret once, with what to do with it. */
function withSecret(endpoint: WebhookEndpointWithSecret, what: string): string[] {
  return [
    `${what} ${endpoint.id}  ${endpoint.url}`,
    `  events ${endpoint.events.join(", ")}`,
    `  signing secret ${endpoint.secret}`,
    "  (shown only now: keep it where your receiver verifies the webhook-signature header)",
  ];
}

function deliveryRow(d: WebhookDelivery): string[] {
  const answered = d.last_status_code === null ? "-" : `HTTP ${d.last_status_code}`;
  return [
    d.id,
    d.event_type,
    d.status,
    String(d.attempts),
    d.created_at,
    `${answered}${d.last_error ? ` ${d.last_error}` : ""}`,
  ];
}

export function registerWebhooksCommands(program: Command): void {
  const webhooks = program
    .command("webhooks")
    .description("Endpoints the service POSTs signed events to, and their delivery logs");

  webhooks
    .command("list")
    .description("Webhook endpoints, newest first")
    .option("--limit <n>", "how many", "20")
    .option("--after <id>", "the page after this endpoint id")
    .option("--json", "print one JSON document")
    .action((flags: ListFlags) =>
      answer(flags, async () => {
        const page = await (await authenticatedClient()).webhookEndpoints.list({
          limit: Number(flags.limit),
          ...(flags.after ? { after: flags.after } : {}),
        });
        const rows = page.data.map((e) => [e.id, e.created_at, e.events.join(","), e.url]);
        return {
          json: page,
          human:
            page.data.length === 0
              ? "No webhook endpoints."
              : table([["ID", "CREATED", "EVENTS", "URL"], ...rows]),
        };
      }),
    );

  webhooks
    .command("create")
    .description("Add an endpoint; prints its signing secret, shown only this once")
    .option("--url <url>", "where to POST the events (in production: https, a public host)")
    .option("--events <list>", `comma-separated (default: all): ${WEBHOOK_EVENT_TYPES.join(", ")}`)
    .option("--description <text>", "what the endpoint is for")
    .option("--json", "print one JSON document")
    .action((flags: CreateFlags) =>
      answer(flags, async () => {
        if (!flags.url) throw new CliError("url_missing", "--url is required: where to POST the events");
        const events = eventsOf(flags.events);
        const endpoint = await (await authenticatedClient()).webhookEndpoints.create({
          url: flags.url,
          events,
          ...(flags.description ? { description: flags.description } : {}),
        });
        return { json: endpoint, human: withSecret(endpoint, "Created") };
      }),
    );

  webhooks
    .command("delete <id>")
    .description("Delete an endpoint and its delivery log; queued deliveries are dropped")
    .option("--json", "print one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const deleted = await (await authenticatedClient()).webhookEndpoints.delete(id);
        return { json: deleted, human: `Deleted ${deleted.id}.` };
      }),
    );

  webhooks
    .command("rotate-secret <id>")
    .description("A new signing secret; the old one keeps signing beside it for 24 hours")
    .option("--json", "print one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const endpoint = await (await authenticatedClient()).webhookEndpoints.rotateSecret(id);
        return { json: endpoint, human: withSecret(endpoint, "Rotated the secret of") };
      }),
    );

  webhooks
    .command("test <id>")
    .description("Send a webhook.test event to the endpoint; see it arrive with `deliveries`")
    .option("--json", "print one JSON document")
    .action((id: string, flags: OutputFlags) =>
      answer(flags, async () => {
        const delivery = await (await authenticatedClient()).webhookEndpoints.sendTest(id);
        return {
          json: delivery,
          human: `Queued ${delivery.event_type} as ${delivery.id}: \`veritrain webhooks deliveries ${id}\` shows how it went.`,
        };
      }),
    );

  webhooks
    .command("deliveries <id>")
    .description("The endpoint's delivery log, newest first: status, attempts, the receiver's last answer")
    .option("--limit <n>", "how many", "20")
    .option("--after <id>", "the page after this delivery id")
    .option("--json", "print one JSON document")
    .action((id: string, flags: ListFlags) =>
      answer(flags, async () => {
        const page = await (await authenticatedClient()).webhookEndpoints.deliveries(id, {
          limit: Number(flags.limit),
          ...(flags.after ? { after: flags.after } : {}),
        });
        return {
          json: page,
          human:
            page.data.length === 0
              ? "No deliveries."
              : table([
                  ["ID", "EVENT", "STATUS", "ATTEMPTS", "CREATED", "LAST ANSWER"],
                  ...page.data.map(deliveryRow),
                ]),
        };
      }),
    );
}
