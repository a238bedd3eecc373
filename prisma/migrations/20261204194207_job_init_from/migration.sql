-- AlterTable
ALTER TABLE "training_jobs" ADD COLUMN     "init_from" JSONB;
