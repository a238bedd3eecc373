-- AlterTable
ALTER TABLE "training_jobs" ADD COLUMN     "epoch_metrics" JSONB NOT NULL DEFAULT '[]';
