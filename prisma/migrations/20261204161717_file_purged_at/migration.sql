-- AlterTable
ALTER TABLE "files" ADD COLUMN     "purged_at" TIMESTAMP(3);
