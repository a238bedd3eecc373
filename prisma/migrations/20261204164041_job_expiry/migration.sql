-- AlterTable
ALTER TABLE "training_jobs" ADD COLUMN     "expires_at" TIMESTAMP(3);

-- CreateIndex
CREATE INDEX "training_jobs_status_created_at_idx" ON "training_jobs"("status", "created_at");
