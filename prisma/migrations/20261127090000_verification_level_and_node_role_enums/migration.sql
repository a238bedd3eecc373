-- CreateEnum
CREATE TYPE "verification_level" AS ENUM ('basic', 'standard', 'thorough');

-- CreateEnum
CREATE TYPE "node_role" AS ENUM ('worker', 'verifier', 'whistleblower');

-- AlterTable: the values are cast in place, so every job keeps its level and every node its roles.
ALTER TABLE "training_jobs" ALTER COLUMN "verification_level" TYPE "verification_level" USING "verification_level"::"verification_level";

-- AlterTable
ALTER TABLE "nodes" ALTER COLUMN "roles" TYPE "node_role"[] USING "roles"::"node_role"[];
