-- AlterTable
ALTER TABLE "ledger_transactions" ADD COLUMN     "organization_id" TEXT NOT NULL;

-- CreateTable
CREATE TABLE "stripe_payments" (
    "checkout_session_id" TEXT NOT NULL,
    "payment_intent_id" TEXT,
    "organization_id" TEXT NOT NULL,
    "amount_cents" BIGINT NOT NULL,
    "refunded_cents" BIGINT NOT NULL DEFAULT 0,
    "disputed_cents" BIGINT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "stripe_payments_pkey" PRIMARY KEY ("checkout_session_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "stripe_payments_payment_intent_id_key" ON "stripe_payments"("payment_intent_id");

-- CreateIndex
CREATE INDEX "stripe_payments_organization_id_idx" ON "stripe_payments"("organization_id");

-- CreateIndex
CREATE INDEX "ledger_transactions_organization_id_id_idx" ON "ledger_transactions"("organization_id", "id");

-- AddForeignKey
ALTER TABLE "ledger_transactions" ADD CONSTRAINT "ledger_transactions_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "stripe_payments" ADD CONSTRAINT "stripe_payments_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

