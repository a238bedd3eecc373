-- AlterTable
ALTER TABLE "training_jobs" ADD COLUMN     "platform_fee_cents" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "result_metrics" JSONB;

-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "commitment_signature" TEXT;

-- AlterTable
ALTER TABLE "task_audits" ADD COLUMN     "verdict_signature" TEXT;

