-- CreateEnum
CREATE TYPE "chain_task_status" AS ENUM ('opening', 'open_failed', 'unassigned', 'assigned', 'committed', 'auditing', 'closed', 'finalized', 'cancelled');

-- CreateEnum
CREATE TYPE "chain_tx_status" AS ENUM ('pending', 'submitted', 'succeeded', 'failed');

-- DropIndex
DROP INDEX "chain_transactions_cause_key_key";

-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "checkpoint_count" INTEGER,
ADD COLUMN     "commit_deadline" INTEGER,
ADD COLUMN     "committed_steps" BIGINT,
ADD COLUMN     "escrow_cents" BIGINT NOT NULL,
ADD COLUMN     "failure_reason" TEXT,
ADD COLUMN     "jackpot_tax_planck" DECIMAL(40,0),
ADD COLUMN     "refund_planck" DECIMAL(40,0),
ADD COLUMN     "result_hash" TEXT,
ADD COLUMN     "verifier_pay_planck" DECIMAL(40,0),
ADD COLUMN     "worker_pay_planck" DECIMAL(40,0),
DROP COLUMN "status",
ADD COLUMN     "status" "chain_task_status" NOT NULL DEFAULT 'opening';

-- AlterTable
ALTER TABLE "chain_transactions" DROP CONSTRAINT "chain_transactions_pkey",
DROP COLUMN "id",
ADD COLUMN     "attempts" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "error_code" TEXT,
ADD COLUMN     "events" JSONB,
ADD COLUMN     "extrinsic_index" INTEGER,
ADD COLUMN     "signed_hex" TEXT,
ADD COLUMN     "valid_from" INTEGER,
ADD COLUMN     "valid_until" INTEGER,
DROP COLUMN "status",
ADD COLUMN     "status" "chain_tx_status" NOT NULL DEFAULT 'pending',
ADD CONSTRAINT "chain_transactions_pkey" PRIMARY KEY ("cause_key");

-- CreateTable
CREATE TABLE "task_audits" (
    "task_id" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "audit_index" INTEGER NOT NULL,
    "segment" INTEGER NOT NULL,
    "verifier_address" TEXT NOT NULL,
    "agrees" BOOLEAN,
    "transcript" TEXT,
    "verdict_extrinsic_hash" TEXT,
    "challenger_address" TEXT,
    "forced" BOOLEAN,
    "outcome" TEXT NOT NULL DEFAULT 'pending',
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "task_audits_pkey" PRIMARY KEY ("task_id","attempt","audit_index")
);

-- CreateTable
CREATE TABLE "chain_events" (
    "block_number" INTEGER NOT NULL,
    "event_index" INTEGER NOT NULL,
    "block_hash" TEXT NOT NULL,
    "extrinsic_hash" TEXT,
    "pallet" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "chain_task_id" BIGINT,
    "data" JSONB NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "chain_events_pkey" PRIMARY KEY ("block_number","event_index")
);

-- CreateTable
CREATE TABLE "chain_cursors" (
    "name" TEXT NOT NULL,
    "genesis_hash" TEXT NOT NULL,
    "block_number" INTEGER NOT NULL,
    "block_hash" TEXT NOT NULL,
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "chain_cursors_pkey" PRIMARY KEY ("name")
);

-- CreateIndex
CREATE INDEX "chain_events_chain_task_id_block_number_idx" ON "chain_events"("chain_task_id", "block_number");

-- CreateIndex
CREATE INDEX "chain_transactions_signer_status_idx" ON "chain_transactions"("signer", "status");

-- AddForeignKey
ALTER TABLE "task_audits" ADD CONSTRAINT "task_audits_task_id_fkey" FOREIGN KEY ("task_id") REFERENCES "tasks"("id") ON DELETE CASCADE ON UPDATE CASCADE;

