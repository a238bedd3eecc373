-- AlterTable
ALTER TABLE "task_audits" ADD COLUMN     "replay_cpu_seconds" DOUBLE PRECISION,
ADD COLUMN     "replay_steps" INTEGER;

-- AlterTable
ALTER TABLE "tasks" ADD COLUMN     "worker_cpu_seconds" DOUBLE PRECISION,
ADD COLUMN     "worker_steps" INTEGER;
