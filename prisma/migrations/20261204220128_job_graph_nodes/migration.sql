-- AlterTable
ALTER TABLE "training_jobs" ADD COLUMN     "graph_nodes" INTEGER;
