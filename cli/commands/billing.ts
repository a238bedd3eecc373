// `veritrain billing balance|topup|transactions`: prepaid credits.
import type { Command } from "commander";
import { authenticatedClient } from "../remote/client.ts";
import { credentials } from "../remote/config.ts";
import { answer, dollars, type OutputFlags, table } from "../remote/output.ts";
import { centsOf } from "./jobs.ts";

interface TopUpFlags extends OutputFlags {
  successUrl?: string;
  cancelUrl?: string;
}

export function registerBillingCommands(program: Command): void {
  const billing = program.command("billing").description("Credits, top-ups and transactions");

  billing
    .command("balance")
    .description("Available and reserved credits")
    .option("--json", "print one JSON document")
    .action((flags: OutputFlags) =>
      answer(flags, async () => {
        const balance = await (await authenticatedClient()).billing.balance();
        const lines = [
          `Available ${dollars(balance.available_cents)}, reserved for running jobs ${dollars(balance.reserved_cents)}.`,
        ];
        if (balance.available_cents < 0) {
          lines.push("The balance is negative after a refund or dispute: top up before creating jobs.");
        }
        return { json: balance, human: lines };
      }),
    );

  billing
    .command("topup <usd>")
    .description("Start a card payment for credits; prints the page to pay on")
    .option("--success-url <url>", "where the payment page returns after paying")
    .option("--cancel-url <url>", "where the payment page returns if cancelled")
    .option("--json", "print one JSON document")
    .action((usd: string, flags: TopUpFlags) =>
      answer(flags, async () => {
        const vt = await authenticatedClient();
        const amount = centsOf(usd, "the amount");
        const portal = `${(await credentials()).baseUrl}/portal/`;
        const session = await vt.billing.createCheckoutSession({
          amount_cents: amount,
          success_url: flags.successUrl ?? `${portal}?checkout=success`,
          cancel_url: flags.cancelUrl ?? `${portal}?checkout=cancelled`,
        });
        return {
          json: session,
          human: [
            `Pay ${dollars(session.amount_cents)} at:`,
            `  ${session.url}`,
            `(valid until ${session.expires_at})`,
          ],
        };
      }),
    );

  billing
    .command("payments")
    .description("Card payments, newest first: paid, processing (a delayed method), or failed")
    .option("--limit <n>", "how many", "20")
    .option("--after <id>", "the page after this payment id")
    .option("--json", "print one JSON document")
    .action((flags: OutputFlags & { limit: string; after?: string }) =>
      answer(flags, async () => {
        const page = await (await authenticatedClient()).billing.payments({
          limit: Number(flags.limit),
          ...(flags.after ? { after: flags.after } : {}),
        });
        const rows = page.data.map((p) => [
          p.id,
          p.status,
          dollars(p.amount_cents),
          dollars(p.refunded_cents + p.disputed_cents),
          p.created_at,
          p.receipt_url ?? "-",
        ]);
        return {
          json: page,
          human:
            page.data.length === 0
              ? "No payments."
              : table([["ID", "STATUS", "AMOUNT", "TAKEN BACK", "CREATED", "RECEIPT"], ...rows]),
        };
      }),
    );

  billing
    .command("transactions")
    .description("Ledger entries, newest first")
    .option("--limit <n>", "how many", "20")
    .option("--after <id>", "the page after this transaction id")
    .option("--json", "print one JSON document")
    .action((flags: OutputFlags & { limit: string; after?: string }) =>
      answer(flags, async () => {
        const page = await (await authenticatedClient()).billing.transactions({
          limit: Number(flags.limit),
          ...(flags.after ? { after: flags.after } : {}),
        });
        const rows = page.data.map((t) => [
          t.id,
          t.type,
          dollars(t.available_change_cents),
          dollars(t.reserved_change_cents),
          t.created_at,
        ]);
        return {
          json: page,
          human:
            page.data.length === 0
              ? "No transactions."
              : table([["ID", "TYPE", "AVAILABLE", "RESERVED", "CREATED"], ...rows]),
        };
      }),
    );
}
