-- AlterTable
ALTER TABLE "training_jobs" ADD COLUMN     "profile_hash" TEXT;
