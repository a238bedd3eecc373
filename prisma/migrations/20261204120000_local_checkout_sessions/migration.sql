-- CreateEnum
CREATE TYPE "local_checkout_status" AS ENUM ('open', 'complete', 'expired');

-- CreateTable
CREATE TABLE "local_checkout_sessions" (
    "id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "amount_cents" INTEGER NOT NULL,
    "currency" TEXT NOT NULL,
    "success_url" TEXT NOT NULL,
    "cancel_url" TEXT NOT NULL,
    "status" "local_checkout_status" NOT NULL DEFAULT 'open',
    "event_id" TEXT,
    "payment_intent_id" TEXT,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMP(3) NOT NULL,
    "completed_at" TIMESTAMP(3),

    CONSTRAINT "local_checkout_sessions_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "local_checkout_sessions_event_id_key" ON "local_checkout_sessions"("event_id");

-- CreateIndex
CREATE UNIQUE INDEX "local_checkout_sessions_payment_intent_id_key" ON "local_checkout_sessions"("payment_intent_id");

-- CreateIndex
CREATE INDEX "local_checkout_sessions_organization_id_idx" ON "local_checkout_sessions"("organization_id");

-- AddForeignKey
ALTER TABLE "local_checkout_sessions" ADD CONSTRAINT "local_checkout_sessions_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
