-- AlterTable
ALTER TABLE "training_jobs" ADD COLUMN     "sweep_id" TEXT;

-- CreateTable
CREATE TABLE "training_sweeps" (
    "id" TEXT NOT NULL,
    "organization_id" TEXT NOT NULL,
    "model_file_id" TEXT NOT NULL,
    "dataset_file_id" TEXT NOT NULL,
    "spec" JSONB NOT NULL,
    "verification_level" "verification_level" NOT NULL,
    "variants" JSONB NOT NULL,
    "objective" JSONB NOT NULL,
    "quoted_cents" BIGINT NOT NULL,
    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "cancelled_at" TIMESTAMP(3),

    CONSTRAINT "training_sweeps_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "training_sweeps_organization_id_created_at_idx" ON "training_sweeps"("organization_id", "created_at");

-- CreateIndex
CREATE INDEX "training_jobs_sweep_id_idx" ON "training_jobs"("sweep_id");

-- AddForeignKey
ALTER TABLE "training_jobs" ADD CONSTRAINT "training_jobs_sweep_id_fkey" FOREIGN KEY ("sweep_id") REFERENCES "training_sweeps"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "training_sweeps" ADD CONSTRAINT "training_sweeps_organization_id_fkey" FOREIGN KEY ("organization_id") REFERENCES "organizations"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
